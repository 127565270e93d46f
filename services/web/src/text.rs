//! Every piece of text the pages show, in one place: another language is
//! another set of the same names. Pages use [`T`], the language served.

use reemploi_proto::inventory::{ClaimStatus, LotStatus};
use reemploi_proto::registry::{PartnerKind, PartnerStatus};
use reemploi_proto::types::Unit;

use crate::session::Role;

/// The language the pages are served in.
pub type T = Fr;

/// French.
#[derive(Debug, Clone, Copy)]
pub struct Fr;

impl Fr {
    /// `lang` of the pages.
    pub const LANG: &'static str = "fr";
    /// The product's name.
    pub const APP: &'static str = "reemploi";
    /// What the product is for, under its name.
    pub const TAGLINE: &'static str = "Les matériaux des chantiers de renouvellement urbain, réemployés par l'économie sociale et solidaire";
    /// Skip link to the main content.
    pub const SKIP: &'static str = "Aller au contenu";
    /// Label of the main navigation.
    pub const NAV: &'static str = "Navigation principale";
    /// Before the signed-in person's name.
    pub const SIGNED_IN_AS: &'static str = "Connecté·e :";
    /// Sign-out button.
    pub const SIGN_OUT: &'static str = "Se déconnecter";
    /// Link to sign in.
    pub const SIGN_IN: &'static str = "Se connecter";
    /// Link to sign up.
    pub const SIGN_UP_LINK: &'static str = "Inscrire ma structure";
    /// Footer.
    pub const FOOTER: &'static str = "reemploi — logiciel libre (AGPL-3.0-or-later)";

    // ---- navigation ----
    /// Admin: partners.
    pub const NAV_PARTNERS: &'static str = "Structures partenaires";
    /// Site manager: sites.
    pub const NAV_SITES: &'static str = "Mes chantiers";
    /// Partner: lots near.
    pub const NAV_LOTS: &'static str = "Lots près de chez nous";
    /// Partner: claims.
    pub const NAV_CLAIMS: &'static str = "Mes réservations";
    /// Partner: the structure.
    pub const NAV_STRUCTURE: &'static str = "Ma structure";

    // ---- sign-in, sign-up ----
    /// Sign-in page title.
    pub const SIGN_IN_TITLE: &'static str = "Connexion";
    /// Email field.
    pub const EMAIL: &'static str = "Adresse électronique";
    /// Password field.
    pub const PASSWORD: &'static str = "Mot de passe";
    /// Password rule.
    pub const PASSWORD_HINT: &'static str =
        "Au moins 12 caractères, et pas un mot de passe courant.";
    /// Sign-in button.
    pub const SIGN_IN_BUTTON: &'static str = "Se connecter";
    /// Sign-in failure (one answer for every cause).
    pub const SIGN_IN_FAILED: &'static str = "Adresse ou mot de passe incorrect.";
    /// Invitation to sign up, on the sign-in page.
    pub const NO_ACCOUNT: &'static str = "Votre structure n'a pas encore de compte ?";
    /// Sign-up page title.
    pub const SIGN_UP_TITLE: &'static str = "Inscrire une structure de l'ESS";
    /// Sign-up introduction.
    pub const SIGN_UP_INTRO: &'static str = "Créez le compte de votre structure (atelier et chantier d'insertion, ressourcerie, association…). Vous la décrirez ensuite ; le territoire la vérifiera avant vos premières réservations.";
    /// Person's name.
    pub const DISPLAY_NAME: &'static str = "Votre nom";
    /// Structure's name.
    pub const STRUCTURE_NAME: &'static str = "Nom de la structure";
    /// Sign-up button.
    pub const SIGN_UP_BUTTON: &'static str = "Créer le compte";
    /// Link to the password-reset request, on the sign-in page.
    pub const FORGOT_LINK: &'static str = "Mot de passe oublié ?";
    /// A password being set.
    pub const NEW_PASSWORD: &'static str = "Nouveau mot de passe";

    // ---- invitation, password reset ----
    /// Invitation page title.
    pub const INVITATION_TITLE: &'static str = "Accepter l'invitation";
    /// Invitation introduction.
    pub const INVITATION_INTRO: &'static str = "Vous avez été invité·e sur reemploi. Choisissez votre mot de passe pour créer votre compte.";
    /// Invitation button.
    pub const INVITATION_BUTTON: &'static str = "Créer mon compte";
    /// Reset request page title.
    pub const FORGOT_TITLE: &'static str = "Mot de passe oublié";
    /// Reset request introduction.
    pub const FORGOT_INTRO: &'static str = "Indiquez l'adresse de votre compte : nous y enverrons un lien, valable 30 minutes, pour choisir un nouveau mot de passe.";
    /// Reset request button.
    pub const FORGOT_BUTTON: &'static str = "Envoyer le lien";
    /// After a reset request (the same whether the address has an account).
    pub const FORGOT_SENT: &'static str =
        "Si un compte existe à cette adresse, un lien vient d'y être envoyé.";
    /// New password page title.
    pub const RESET_TITLE: &'static str = "Nouveau mot de passe";
    /// New password button.
    pub const RESET_BUTTON: &'static str = "Enregistrer le mot de passe";
    /// After a reset.
    pub const RESET_DONE: &'static str = "Votre mot de passe est changé. Par sécurité, toutes vos sessions sont fermées : connectez-vous à nouveau.";
    /// Above a form's errors.
    pub const FORM_ERRORS: &'static str = "Le formulaire contient des erreurs :";

    // ---- home ----
    /// Home title.
    pub const HOME_TITLE: &'static str = "Accueil";
    /// Integrators have no pages.
    pub const HOME_INTEGRATOR: &'static str = "Les comptes intégrateurs utilisent l'API gRPC ; cette application n'a pas de page pour eux.";

    // ---- partner registration ----
    /// Registration page title.
    pub const REGISTER_TITLE: &'static str = "Décrire ma structure";
    /// Registration introduction.
    pub const REGISTER_INTRO: &'static str = "Ces informations permettent au territoire de vérifier votre structure et aux chantiers de vous proposer des lots.";
    /// Registered already.
    pub const REGISTERED: &'static str = "Votre structure est enregistrée.";
    /// Status shown on the structure page.
    pub const STRUCTURE_STATUS: &'static str = "Statut";
    /// Pending banner.
    pub const PENDING_BANNER: &'static str = "Votre structure attend la vérification du territoire : vous pourrez réserver des lots dès qu'elle sera vérifiée.";
    /// Legal name.
    pub const LEGAL_NAME: &'static str = "Raison sociale";
    /// SIRET.
    pub const SIRET: &'static str = "SIRET (14 chiffres)";
    /// Kind.
    pub const KIND: &'static str = "Type de structure";
    /// Address line.
    pub const ADDRESS_LINE: &'static str = "Adresse";
    /// Postal code.
    pub const POSTAL_CODE: &'static str = "Code postal";
    /// Commune.
    pub const COMMUNE: &'static str = "Commune";
    /// Latitude.
    pub const LATITUDE: &'static str = "Latitude (degrés décimaux)";
    /// Longitude.
    pub const LONGITUDE: &'static str = "Longitude (degrés décimaux)";
    /// Where materials are received.
    pub const LOCATION_LEGEND: &'static str = "Lieu de réception des matériaux";
    /// Coordinates hint.
    pub const LOCATION_HINT: &'static str =
        "Par exemple 47.7480 et 7.3200 pour le centre de Mulhouse.";
    /// Service radius.
    pub const RADIUS: &'static str = "Rayon d'intervention (km, de 1 à 200)";
    /// Weekly intake.
    pub const WEEKLY_INTAKE: &'static str = "Capacité d'accueil par semaine (kg)";
    /// Categories accepted.
    pub const CATEGORIES: &'static str = "Matériaux acceptés";
    /// Contact email.
    pub const CONTACT_EMAIL: &'static str = "Courriel de contact";
    /// Contact phone.
    pub const CONTACT_PHONE: &'static str = "Téléphone de contact";
    /// Registration button.
    pub const REGISTER_BUTTON: &'static str = "Enregistrer la structure";

    // ---- admin ----
    /// Partners page title.
    pub const PARTNERS_TITLE: &'static str = "Structures partenaires";
    /// Filter label.
    pub const FILTER_STATUS: &'static str = "Statut";
    /// Any status.
    pub const ANY_STATUS: &'static str = "Tous";
    /// Filter button.
    pub const FILTER_BUTTON: &'static str = "Filtrer";
    /// No partner.
    pub const NO_PARTNERS: &'static str = "Aucune structure.";
    /// Column: name.
    pub const COL_NAME: &'static str = "Structure";
    /// Column: SIRET.
    pub const COL_SIRET: &'static str = "SIRET";
    /// Column: commune.
    pub const COL_COMMUNE: &'static str = "Commune";
    /// Column: status.
    pub const COL_STATUS: &'static str = "Statut";
    /// Column: actions.
    pub const COL_ACTIONS: &'static str = "Actions";
    /// Verify.
    pub const VERIFY: &'static str = "Vérifier";
    /// Suspend.
    pub const SUSPEND: &'static str = "Suspendre";
    /// Reinstate.
    pub const REINSTATE: &'static str = "Rétablir";

    // ---- site manager ----
    /// Sites page title.
    pub const SITES_TITLE: &'static str = "Mes chantiers";
    /// No site.
    pub const NO_SITES: &'static str = "Aucun chantier pour votre organisation.";
    /// Column: site.
    pub const COL_SITE: &'static str = "Chantier";
    /// Column: operation.
    pub const COL_OPERATION: &'static str = "Opération";
    /// Lots of a status, heading.
    pub const LOTS_OF_SITE: &'static str = "Lots";
    /// No lot.
    pub const NO_LOTS: &'static str = "Aucun lot.";
    /// Publish.
    pub const PUBLISH: &'static str = "Publier";
    /// Hazardous lot note.
    pub const HAZARDOUS: &'static str =
        "Matériau dangereux : ne peut pas être proposé au réemploi.";
    /// Address.
    pub const ADDRESS: &'static str = "Adresse";
    /// Ledger legend: available.
    pub const LEDGER_AVAILABLE: &'static str = "disponible";
    /// Ledger legend: reserved.
    pub const LEDGER_RESERVED: &'static str = "réservé";
    /// Ledger legend: handed over.
    pub const LEDGER_HANDED_OVER: &'static str = "remis";
    /// Quantity.
    pub const QUANTITY: &'static str = "Quantité";
    /// Category.
    pub const CATEGORY: &'static str = "Catégorie";

    // ---- partner ----
    /// Lots page title.
    pub const LOTS_TITLE: &'static str = "Lots près de chez nous";
    /// Lots page introduction.
    pub const LOTS_INTRO: &'static str =
        "Lots publiés dans votre rayon d'intervention, du plus proche au plus lointain.";
    /// No lot near.
    pub const NO_LOTS_NEAR: &'static str =
        "Aucun lot publié dans votre rayon d'intervention pour l'instant.";
    /// Column: lot.
    pub const COL_LOT: &'static str = "Lot";
    /// Column: available.
    pub const COL_AVAILABLE: &'static str = "Disponible";
    /// Column: distance.
    pub const COL_DISTANCE: &'static str = "Distance";
    /// Lot details heading.
    pub const LOT_DETAILS: &'static str = "Détails";
    /// Description.
    pub const DESCRIPTION: &'static str = "Description";
    /// Condition.
    pub const CONDITION: &'static str = "État";
    /// Where in the building.
    pub const BUILDING_LOCATION: &'static str = "Emplacement";
    /// Estimated mass.
    pub const ESTIMATED_MASS: &'static str = "Masse estimée";
    /// Status.
    pub const STATUS: &'static str = "Statut";
    /// Claim heading.
    pub const CLAIM_HEADING: &'static str = "Réserver";
    /// Claim quantity label, before the unit.
    pub const CLAIM_QUANTITY: &'static str = "Quantité souhaitée";
    /// Claim note.
    pub const CLAIM_NOTE: &'static str = "Message pour le chantier (facultatif)";
    /// Claim button.
    pub const CLAIM_BUTTON: &'static str = "Réserver";
    /// Lot not open to claims.
    pub const NOT_CLAIMABLE: &'static str = "Ce lot n'est pas ouvert aux réservations.";
    /// Claims page title.
    pub const CLAIMS_TITLE: &'static str = "Mes réservations";
    /// No claim.
    pub const NO_CLAIMS: &'static str = "Aucune réservation pour l'instant.";
    /// Column: date.
    pub const COL_DATE: &'static str = "Date";
    /// Claim page title.
    pub const CLAIM_TITLE: &'static str = "Réservation";
    /// Claimed on.
    pub const CLAIMED_AT: &'static str = "Réservé le";
    /// Expires on.
    pub const EXPIRES_AT: &'static str = "Expire le";
    /// Weighed mass.
    pub const WEIGHED_MASS: &'static str = "Masse pesée";
    /// Note.
    pub const NOTE: &'static str = "Message";
    /// Link to the lot.
    pub const SEE_LOT: &'static str = "Voir le lot";
    /// Link to the claim.
    pub const SEE_CLAIM: &'static str = "Détails";
    /// Not registered yet.
    pub const NOT_REGISTERED: &'static str = "Décrivez d'abord votre structure.";
    /// Quantity parse error.
    pub const BAD_QUANTITY: &'static str =
        "Indiquez une quantité positive, avec au plus trois décimales (par exemple 12 ou 12,5).";
    /// Number parse error.
    pub const BAD_NUMBER: &'static str = "Indiquez un nombre.";

    // ---- errors ----
    /// 403 title.
    pub const ERR_FORBIDDEN: &'static str = "Accès refusé";
    /// CSRF refusal.
    pub const ERR_CSRF: &'static str = "Ce formulaire a expiré ou ne vient pas de cette application. Rechargez la page et recommencez.";
    /// Wrong role.
    pub const ERR_ROLE: &'static str = "Cette page est réservée à un autre rôle.";
    /// The API refused.
    pub const ERR_PERMISSION: &'static str =
        "Vous n'avez pas le droit de voir ou de modifier cette ressource.";
    /// 404 title.
    pub const ERR_NOT_FOUND: &'static str = "Page introuvable";
    /// 404 text.
    pub const ERR_NOT_FOUND_TEXT: &'static str = "Ce que vous cherchez n'existe pas, ou plus.";
    /// 400 title.
    pub const ERR_BAD_REQUEST: &'static str = "Demande invalide";
    /// 400 text.
    pub const ERR_BAD_REQUEST_TEXT: &'static str = "La demande n'a pas pu être lue.";
    /// Invalid argument.
    pub const ERR_INVALID: &'static str = "Une des valeurs envoyées n'est pas valable.";
    /// 409 title.
    pub const ERR_CONFLICT: &'static str = "Action impossible";
    /// 409 text.
    pub const ERR_CONFLICT_TEXT: &'static str = "Cette action n'est pas possible dans l'état actuel. Rechargez la page pour voir l'état à jour.";
    /// 429 title.
    pub const ERR_BUSY: &'static str = "Trop de demandes";
    /// 429 text.
    pub const ERR_BUSY_TEXT: &'static str =
        "Trop de demandes en peu de temps : patientez quelques secondes puis recommencez.";
    /// 503 title.
    pub const ERR_UNAVAILABLE: &'static str = "Service indisponible";
    /// 503 text.
    pub const ERR_UNAVAILABLE_TEXT: &'static str =
        "Le service ne répond pas pour l'instant. Réessayez dans un moment.";
    /// 500 title.
    pub const ERR_INTERNAL: &'static str = "Erreur interne";
    /// 500 text.
    pub const ERR_INTERNAL_TEXT: &'static str =
        "Une erreur est survenue de notre côté. Réessayez plus tard.";
    /// Back home.
    pub const BACK_HOME: &'static str = "Revenir à l'accueil";

    /// The French explanation of an API error reason, when it has one.
    pub fn reason(reason: &str) -> Option<&'static str> {
        Some(match reason {
            "EMAIL_TAKEN" => "Un compte existe déjà avec cette adresse.",
            "LINK_INVALID" => {
                "Ce lien n'est plus valable (déjà utilisé ou expiré) : demandez-en un nouveau."
            }
            "SIRET_TAKEN" => "Une structure est déjà enregistrée avec ce SIRET.",
            "ALREADY_REGISTERED" => "Votre structure est déjà enregistrée.",
            "HAZARDOUS_LOT" => {
                "Ce lot contient un matériau dangereux : il ne peut pas être publié."
            }
            "LOT_NOT_CLAIMABLE" => {
                "Ce lot n'est plus ouvert aux réservations, ou la quantité demandée dépasse la quantité disponible."
            }
            "LOT_NOT_EDITABLE" => "Ce lot ne peut plus être modifié.",
            "PARTNER_NOT_ELIGIBLE" | "PARTNER_NOT_VERIFIED" => {
                "Votre structure doit être vérifiée par le territoire avant de réserver."
            }
            "PARTNER_ARCHIVED" => "Cette structure est archivée.",
            "STALE_ETAG" => {
                "Quelqu'un a modifié cette ressource entre-temps. Rechargez la page et recommencez."
            }
            "CONFLICT" => "Cette action n'est pas possible dans l'état actuel de la ressource.",
            "RATE_LIMITED" => Self::ERR_BUSY_TEXT,
            "STORAGE_UNAVAILABLE" => Self::ERR_UNAVAILABLE_TEXT,
            _ => return None,
        })
    }

    /// A field of an API request, as the form names it.
    pub fn field(path: &str) -> &'static str {
        let last = path.rsplit('.').next().unwrap_or(path);
        let last = last.split('[').next().unwrap_or(last);
        match last {
            "email" => Self::EMAIL,
            "password" => Self::PASSWORD,
            "display_name" => Self::DISPLAY_NAME,
            "structure_name" => Self::STRUCTURE_NAME,
            "legal_name" => Self::LEGAL_NAME,
            "siret" => Self::SIRET,
            "kinds" => Self::KIND,
            "line1" => Self::ADDRESS_LINE,
            "postal_code" => Self::POSTAL_CODE,
            "commune" => Self::COMMUNE,
            "location" | "latitude" => Self::LATITUDE,
            "longitude" => Self::LONGITUDE,
            "service_radius_km" => Self::RADIUS,
            "weekly_intake_kg" => Self::WEEKLY_INTAKE,
            "accepted_categories" => Self::CATEGORIES,
            "phone" => Self::CONTACT_PHONE,
            "quantity" | "milli" => Self::QUANTITY,
            "note" => Self::CLAIM_NOTE,
            _ => "Champ",
        }
    }

    /// The name of a role.
    pub fn role(role: Role) -> &'static str {
        match role {
            Role::SiteManager => "responsable de chantier",
            Role::Partner => "structure partenaire",
            Role::Admin => "administration du territoire",
            Role::Integrator => "intégrateur",
        }
    }

    /// The name of a lot status, plural for headings.
    pub fn lot_status(status: LotStatus) -> &'static str {
        match status {
            LotStatus::Unspecified => "Sans statut",
            LotStatus::Draft => "Brouillons",
            LotStatus::Published => "Publiés",
            LotStatus::Withdrawn => "Retirés",
            LotStatus::Exhausted => "Épuisés",
            LotStatus::Expired => "Expirés",
        }
    }

    /// The status of one lot.
    pub fn one_lot_status(status: LotStatus) -> &'static str {
        match status {
            LotStatus::Unspecified => "sans statut",
            LotStatus::Draft => "brouillon",
            LotStatus::Published => "publié",
            LotStatus::Withdrawn => "retiré",
            LotStatus::Exhausted => "épuisé",
            LotStatus::Expired => "expiré",
        }
    }

    /// The name of a claim status.
    pub fn claim_status(status: ClaimStatus) -> &'static str {
        match status {
            ClaimStatus::Unspecified => "sans statut",
            ClaimStatus::Reserved => "réservée, en attente de confirmation",
            ClaimStatus::Confirmed => "confirmée, à enlever",
            ClaimStatus::HandedOver => "enlevée",
            ClaimStatus::Rejected => "refusée",
            ClaimStatus::Cancelled => "annulée",
            ClaimStatus::Expired => "expirée",
        }
    }

    /// The name of a partner status.
    pub fn partner_status(status: PartnerStatus) -> &'static str {
        match status {
            PartnerStatus::Unspecified => "sans statut",
            PartnerStatus::Pending => "en attente de vérification",
            PartnerStatus::Verified => "vérifiée",
            PartnerStatus::Suspended => "suspendue",
            PartnerStatus::Archived => "archivée",
        }
    }

    /// The name of a kind of structure.
    pub fn partner_kind(kind: PartnerKind) -> &'static str {
        match kind {
            PartnerKind::Unspecified => "—",
            PartnerKind::Aci => "Atelier et chantier d'insertion (ACI)",
            PartnerKind::Ai => "Association intermédiaire (AI)",
            PartnerKind::Ei => "Entreprise d'insertion (EI)",
            PartnerKind::Eiti => "Entreprise d'insertion par le travail indépendant (EITI)",
            PartnerKind::Etti => "Entreprise de travail temporaire d'insertion (ETTI)",
            PartnerKind::Ea => "Entreprise adaptée (EA)",
            PartnerKind::Eatt => "Entreprise adaptée de travail temporaire (EATT)",
            PartnerKind::Geiq => {
                "Groupement d'employeurs pour l'insertion et la qualification (GEIQ)"
            }
            PartnerKind::Ressourcerie => "Ressourcerie ou recyclerie",
            PartnerKind::Association => "Association",
            PartnerKind::Scop => "Société coopérative et participative (SCOP)",
            PartnerKind::Scic => "Société coopérative d'intérêt collectif (SCIC)",
        }
    }

    /// The symbol of a unit.
    pub fn unit(unit: Unit) -> &'static str {
        match unit {
            Unit::Unspecified => "",
            Unit::Piece => "pièce(s)",
            Unit::Metre => "m",
            Unit::SquareMetre => "m²",
            Unit::CubicMetre => "m³",
            Unit::Kilogram => "kg",
            Unit::Tonne => "t",
            Unit::Litre => "l",
        }
    }

    /// The ledger of a lot, read aloud.
    pub fn ledger(available: &str, reserved: &str, handed_over: &str) -> String {
        format!(
            "{available} {}, {reserved} {}, {handed_over} {}",
            Self::LEDGER_AVAILABLE,
            Self::LEDGER_RESERVED,
            Self::LEDGER_HANDED_OVER
        )
    }

    /// A claim's quantity label with its unit.
    pub fn claim_quantity(unit: &str) -> String {
        format!("{} (en {unit})", Self::CLAIM_QUANTITY)
    }

    /// How many of a status.
    pub fn count(n: usize) -> String {
        format!("({n})")
    }

    /// The signed-in person and role.
    pub fn who(name: &str, role: Role) -> String {
        format!("{name} ({})", Self::role(role))
    }
}

// ---- imports (pages::imports) ----
impl Fr {
    /// Site page: link to the diagnostic import.
    pub const IMPORT_DIAGNOSTIC_LINK: &'static str = "Importer un diagnostic";
    /// Partners page: link to the directory import.
    pub const IMPORT_DIRECTORY_LINK: &'static str = "Importer un annuaire SIAE";
    /// Directory import page title.
    pub const IMPORT_DIRECTORY_TITLE: &'static str = "Importer un annuaire SIAE";
    /// What a diagnostic file holds.
    pub const IMPORT_DIAGNOSTIC_INTRO: &'static str = "Déposez le diagnostic PEMD du chantier : un fichier CSV (UTF-8, séparé par des virgules ou des points-virgules) ou un classeur XLSX, XLS ou ODS, une ligne par matériau. Les colonnes désignation, catégorie, quantité et unité sont obligatoires ; référence, masse (kg), localisation, état, potentiel de réemploi, code déchet, danger et description sont lues quand elles sont là. Les lots sont créés en brouillon.";
    /// What a directory export holds.
    pub const IMPORT_DIRECTORY_INTRO: &'static str = "Déposez un export de l'annuaire des SIAE : un fichier CSV ou un classeur XLSX, XLS ou ODS, une ligne par structure. Les colonnes siret, type et raison_sociale sont obligatoires, et chaque structure doit avoir une latitude et une longitude. Les structures sont enregistrées en attente de vérification.";
    /// Nothing is saved before the preview.
    pub const IMPORT_NOTHING_SAVED: &'static str =
        "Rien n'est enregistré avant que vous ayez vu l'aperçu de chaque ligne et confirmé.";
    /// File input.
    pub const IMPORT_FILE: &'static str = "Fichier à importer";
    /// File input hint.
    pub const IMPORT_FILE_HINT: &'static str = "CSV, XLSX, XLS ou ODS ; 5 Mo au plus.";
    /// Default radius input.
    pub const IMPORT_RADIUS: &'static str = "Rayon d'intervention par défaut (km, de 1 à 200)";
    /// Default radius hint.
    pub const IMPORT_RADIUS_HINT: &'static str =
        "Pour les structures dont la ligne n'a pas de rayon.";
    /// Upload button.
    pub const IMPORT_PREVIEW_BUTTON: &'static str = "Voir l'aperçu";
    /// Back to the site.
    pub const IMPORT_BACK_TO_SITE: &'static str = "Retour au chantier";
    /// Back to the partners.
    pub const IMPORT_BACK_TO_PARTNERS: &'static str = "Retour aux structures";
    /// Start again with another file.
    pub const IMPORT_ANOTHER: &'static str = "Importer un autre fichier";
    /// No file chosen.
    pub const IMPORT_NO_FILE: &'static str = "Choisissez un fichier à importer.";
    /// File over the limit.
    pub const IMPORT_TOO_LARGE: &'static str =
        "Le fichier dépasse 5 Mo : découpez-le en plusieurs fichiers.";
    /// Upload that could not be read.
    pub const IMPORT_UPLOAD_FAILED: &'static str =
        "Le fichier n'a pas pu être reçu. Choisissez-le de nouveau et recommencez.";
    /// Radius out of range.
    pub const IMPORT_BAD_RADIUS: &'static str = "Indiquez un nombre entier de 1 à 200.";
    /// Column: line.
    pub const COL_LINE: &'static str = "Ligne";
    /// Column: reference.
    pub const COL_REFERENCE: &'static str = "Référence";
    /// Column: designation.
    pub const COL_DESIGNATION: &'static str = "Désignation";
    /// Column: mass.
    pub const COL_MASS: &'static str = "Masse";
    /// Column: hazards.
    pub const COL_HAZARDS: &'static str = "Dangers";
    /// Column: what becomes of the row.
    pub const COL_RESULT: &'static str = "Résultat";
    /// Column: a refused row's cells.
    pub const COL_CONTENT: &'static str = "Contenu de la ligne";
    /// Column: kinds of structure.
    pub const COL_KINDS: &'static str = "Types";
    /// Column: service radius.
    pub const COL_RADIUS: &'static str = "Rayon";
    /// Column: categories accepted.
    pub const COL_CATEGORIES: &'static str = "Matériaux acceptés";
    /// A good lot row.
    pub const IMPORT_READY_LOT: &'static str = "À créer en brouillon";
    /// A good partner row.
    pub const IMPORT_READY_PARTNER: &'static str = "À enregistrer, en attente de vérification";
    /// Before a refused row's reasons.
    pub const IMPORT_REFUSED: &'static str = "Refusée :";
    /// No hazard.
    pub const IMPORT_NO_HAZARD: &'static str = "aucun";
    /// Above the API's refusals that name no row.
    pub const IMPORT_API_REFUSED: &'static str =
        "Le service a refusé l'import ; rien n'a été enregistré :";
    /// Refused rows are left out.
    pub const IMPORT_BAD_ROWS_LEFT_OUT: &'static str = "Les lignes refusées ne seront pas importées. Pour les ajouter ensuite, importez un fichier qui ne contient qu'elles, corrigées.";
    /// No row to import.
    pub const IMPORT_NOTHING_TO_CREATE: &'static str =
        "Aucune ligne ne peut être importée : corrigez le fichier et déposez-le de nouveau.";

    /// The diagnostic import page's title.
    pub fn import_diagnostic_title(site: &str) -> String {
        format!("Importer un diagnostic — {site}")
    }

    /// The caption of a preview.
    pub fn import_caption(file: &str) -> String {
        format!("Aperçu de {file}, ligne par ligne")
    }

    /// What a diagnostic's preview found.
    pub fn import_lots_summary(good: usize, hazardous: usize, bad: usize) -> String {
        let lots = plural(good, "ligne prête", "lignes prêtes");
        let refused = plural(bad, "ligne refusée", "lignes refusées");
        match hazardous {
            0 => format!("{lots} à créer en brouillon ; {refused}."),
            h => format!(
                "{lots} à créer en brouillon, dont {} (jamais publiable) ; {refused}.",
                plural(h, "dangereuse", "dangereuses")
            ),
        }
    }

    /// What a directory's preview found.
    pub fn import_partners_summary(good: usize, bad: usize) -> String {
        format!(
            "{} à enregistrer ; {}.",
            plural(good, "structure", "structures"),
            plural(bad, "ligne refusée", "lignes refusées")
        )
    }

    /// The columns of a file no import reads.
    pub fn import_unused(columns: &[String]) -> String {
        format!("Colonnes ignorées : {}.", columns.join(", "))
    }

    /// The button that creates the lots.
    pub fn import_create_lots(n: usize) -> String {
        format!("Créer {} en brouillon", plural(n, "lot", "lots"))
    }

    /// The button that registers the partners.
    pub fn import_create_partners(n: usize) -> String {
        format!("Enregistrer {}", plural(n, "structure", "structures"))
    }

    /// More good rows than one import takes.
    pub fn import_too_many(n: usize, max: usize) -> String {
        format!("{n} lignes valables : un import en prend au plus {max}. Découpez le fichier.")
    }

    /// A hazardous lot row.
    pub fn import_hazardous(why: &reemploi_import::lots::Hazardous) -> String {
        let mut parts = Vec::new();
        if let Some(code) = &why.waste_code {
            parts.push(format!("code déchet dangereux {code}"));
        }
        parts.extend(why.hazards.iter().map(|h| Self::hazard(*h).to_owned()));
        format!(
            "Dangereux, jamais publiable ({}) : sera créé en brouillon",
            parts.join(", ")
        )
    }

    /// A hazard, as the lot shows it.
    pub fn hazard(hazard: reemploi_domain::waste::Hazard) -> &'static str {
        use reemploi_domain::waste::Hazard;
        match hazard {
            Hazard::Asbestos => "amiante",
            Hazard::Lead => "plomb",
            Hazard::Pcb => "PCB",
            Hazard::Pah => "HAP",
            Hazard::Other => "autre danger",
        }
    }

    /// A hazard of a lot as the API names it.
    pub fn lot_hazard(hazard: reemploi_proto::inventory::Hazard) -> &'static str {
        use reemploi_domain::waste::Hazard as D;
        use reemploi_proto::inventory::Hazard;
        match hazard {
            Hazard::Unspecified => "—",
            Hazard::Asbestos => Self::hazard(D::Asbestos),
            Hazard::Lead => Self::hazard(D::Lead),
            Hazard::Pcb => Self::hazard(D::Pcb),
            Hazard::Pah => Self::hazard(D::Pah),
            Hazard::Other => Self::hazard(D::Other),
        }
    }

    /// Why a whole file cannot be imported.
    pub fn import_error(error: &reemploi_import::ImportError) -> String {
        use reemploi_import::ImportError as E;
        match error {
            E::Unreadable { reason } => format!(
                "Le fichier n'a pas pu être lu ({reason}). Vérifiez qu'il s'agit bien d'un fichier CSV, XLSX, XLS ou ODS."
            ),
            E::NotUtf8 { .. } => "Le fichier n'est pas du texte UTF-8 : enregistrez-le au format « CSV UTF-8 », ou en .xlsx.".to_owned(),
            E::Empty | E::NoCells => "Le fichier est vide.".to_owned(),
            E::MissingColumns { missing, headers } => format!(
                "Colonnes obligatoires manquantes : {}. La ligne d'en-tête contient : {}.",
                missing
                    .iter()
                    .map(|c| format!("{} (par exemple « {} »)", Self::import_field(c.field), c.example))
                    .collect::<Vec<_>>()
                    .join(", "),
                headers.join(", ")
            ),
            E::NotADirectoryExport { headers } => format!(
                "Un export de l'annuaire des SIAE doit avoir les colonnes siret, type et raison_sociale. La ligne d'en-tête contient : {}.",
                headers.join(", ")
            ),
        }
    }

    /// Why a row is refused: in French where the reason is ours, with the
    /// domain's or the API's own words otherwise.
    pub fn import_reason(reason: &reemploi_import::Reason) -> String {
        use reemploi_domain::DomainError;
        use reemploi_import::Reason as R;
        match reason {
            R::Domain(DomainError::Invalid { field, reason }) => {
                format!("{} : {reason}", Self::import_field(field))
            }
            R::Domain(other) => other.to_string(),
            R::NoLocation => "Latitude et longitude : obligatoires, chaque structure est placée sur la carte (ajoutez les colonnes latitude et longitude, par exemple avec le géocodeur de la Base adresse nationale).".to_owned(),
            R::NotDegrees { latitude, longitude } => format!(
                "Latitude et longitude : « {latitude} » et « {longitude} » ne sont pas des degrés décimaux."
            ),
            R::NoKind => "Type : au moins un type de structure (ACI, AI, EI, ETTI, EITI, EA…).".to_owned(),
            R::Radius { km } => format!("Rayon (km) : de 1 à 200 km, et non {km}."),
            R::NotWhole { field, value } => format!(
                "{} : « {value} » n'est pas un nombre entier positif.",
                Self::import_field(field)
            ),
            R::Refused { field, description } if field.is_empty() => {
                format!("Refusée par le service : {description}")
            }
            R::Refused { field, description } => format!(
                "Refusée par le service — {} : {description}",
                Self::import_field(field)
            ),
        }
    }

    /// The column of a file a field comes from (the last part of an API
    /// path), as people call it; unknown ones as they are written.
    pub fn import_field(field: &str) -> String {
        let last = field.rsplit('.').next().unwrap_or(field);
        let last = last.split('[').next().unwrap_or(last);
        let known = match last {
            "reference" => "Référence",
            "designation" => "Désignation",
            "category" => "Catégorie",
            "quantity" | "milli" => "Quantité",
            "unit" => "Unité",
            "mass_kg" | "estimated_mass_g" => "Masse (kg)",
            "location" | "building_location" => "Localisation",
            "condition" => "État",
            "description" => "Description",
            "waste_code" => "Code déchet",
            "hazard" | "hazards" => "Danger",
            "siret" => "SIRET",
            "kind" | "kinds" => "Type",
            "raison_sociale" | "legal_name" => "Raison sociale",
            "enseigne" | "trade_name" => "Enseigne",
            "addresse_ligne_1" | "line1" => "Adresse",
            "code_postal" | "postal_code" => "Code postal",
            "ville" | "commune" => "Commune",
            "latitude" => "Latitude",
            "longitude" => "Longitude",
            "accepted_categories" => "Catégories",
            "weekly_intake_kg" => "Capacité (kg par semaine)",
            "radius_km" | "service_radius_km" => "Rayon (km)",
            "insertion_fte" | "insertion_fte_centi" => "ETP en insertion",
            other => return other.to_owned(),
        };
        known.to_owned()
    }
}

/// `n` and the singular or plural noun: "1 lot", "0 lot", "3 lots".
fn plural(n: usize, one: &str, many: &str) -> String {
    if n > 1 {
        format!("{n} {many}")
    } else {
        format!("{n} {one}")
    }
}
