//! Every piece of text the pages show, in one place: another language is
//! another set of the same names. Pages use [`T`], the language served.

use reemploi_proto::identity::AccountRole;
use reemploi_proto::inventory::{ClaimStatus, LotStatus};
use reemploi_proto::matching::UnallocatedReason;
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

    // ---- site manager: sites, lots, claims, plan ----
    /// Link to the site form.
    pub const NEW_SITE: &'static str = "Nouveau chantier";
    /// New site page title.
    pub const NEW_SITE_TITLE: &'static str = "Nouveau chantier";
    /// Link to edit a site.
    pub const EDIT_SITE: &'static str = "Modifier le chantier";
    /// Site's name field.
    pub const SITE_NAME: &'static str = "Nom du chantier";
    /// Site's owner organisation (admin only).
    pub const SITE_OWNER: &'static str = "Organisation maître d'ouvrage (identifiant)";
    /// Operation legend.
    pub const SITE_OPERATION: &'static str = "Opération de renouvellement urbain";
    /// Programme field.
    pub const PROGRAMME: &'static str = "Programme (par exemple NPNRU)";
    /// Quartier field.
    pub const QUARTIER: &'static str = "Quartier";
    /// INSEE code field.
    pub const INSEE_CODE: &'static str = "Code INSEE de la commune";
    /// Site location legend.
    pub const SITE_LOCATION: &'static str = "Position du chantier";
    /// Works start.
    pub const WORKS_START: &'static str = "Début des travaux";
    /// Works end.
    pub const WORKS_END: &'static str = "Fin des travaux";
    /// Save button.
    pub const SAVE: &'static str = "Enregistrer";
    /// A mass that cannot be read.
    pub const BAD_MASS: &'static str =
        "masse illisible : un nombre de kilogrammes supérieur à zéro, par exemple 350 ou 12,5";
    /// Link to the allocation plan.
    pub const PLAN_LINK: &'static str = "Plan de répartition";
    /// Label of the status filter of a site's lots.
    pub const LOTS_BY_STATUS: &'static str = "Lots par statut";
    /// Label of a pager.
    pub const PAGES: &'static str = "Pages";
    /// The first page.
    pub const PAGE_FIRST: &'static str = "← Première page";
    /// Next page.
    pub const PAGE_NEXT: &'static str = "Page suivante →";
    /// Title of the page of drafts the API refused to publish.
    pub const PUBLISH_REFUSED_TITLE: &'static str = "Publication incomplète";
    /// Publish the ticked drafts.
    pub const PUBLISH_SELECTED: &'static str = "Publier la sélection";
    /// Publish every draft.
    pub const PUBLISH_ALL: &'static str = "Publier tous les brouillons";
    /// Back to the site.
    pub const BACK_TO_SITE: &'static str = "← Retour au chantier";
    /// Reference of a lot in the diagnostic.
    pub const REFERENCE: &'static str = "Référence du diagnostic";
    /// Waste code.
    pub const WASTE_CODE: &'static str = "Code déchet";
    /// Availability window.
    pub const AVAILABILITY: &'static str = "Disponible";
    /// Photos heading.
    pub const PHOTOS: &'static str = "Photos";
    /// Claims on a lot heading.
    pub const CLAIMS_ON_LOT: &'static str = "Réservations";
    /// No claim on a lot.
    pub const NO_CLAIMS_ON_LOT: &'static str = "Aucune réservation sur ce lot.";
    /// Wished pick-up window.
    pub const PICKUP_WISHED: &'static str = "Enlèvement souhaité :";
    /// Confirm a claim.
    pub const CONFIRM: &'static str = "Confirmer";
    /// Reject a claim.
    pub const REJECT: &'static str = "Refuser";
    /// Reason of a rejection.
    pub const REJECT_REASON: &'static str = "Motif du refus";
    /// Hint of the weighed mass.
    pub const HANDOVER_MASS_HINT: &'static str = "En kilogrammes, pesée au départ du chantier.";
    /// Accept a mass far above the estimate.
    pub const ACCEPT_UNEXPECTED_MASS: &'static str =
        "La pesée dépasse nettement l'estimation : je la confirme";
    /// Record a hand-over.
    pub const RECORD_HANDOVER: &'static str = "Enregistrer la remise";
    /// A trip's quantity, in errors.
    pub const TRIP_QUANTITY: &'static str = "Quantité enlevée";
    /// Hint of a trip's quantity.
    pub const TRIP_QUANTITY_HINT: &'static str = "Dans l'unité du lot, en pièces entières pour un lot compté en pièces. Laissez vide si tout ce qui reste part.";
    /// A lot's check (lead, structure).
    pub const LOT_CHECK: &'static str = "Contrôle (plomb, structure)";
    /// A lot awaiting its check.
    pub const LOT_CHECK_AWAITED: &'static str =
        "attendu : le lot sera publiable une fois le contrôle enregistré comme réussi";
    /// Close a claim partly collected.
    pub const CLOSE_CLAIM: &'static str = "Clore avec ce qui a été enlevé";
    /// What closing a claim does.
    pub const CLOSE_CLAIM_HINT: &'static str =
        "Le reste de la réservation redevient disponible sur le lot.";
    /// Reason of a close.
    pub const CLOSE_REASON: &'static str = "Pourquoi le reste n'est pas enlevé";
    /// The receipts of a claim.
    pub const RECEIPTS: &'static str = "Bons d'enlèvement";
    /// How to print a receipt.
    pub const RECEIPT_PRINT_HINT: &'static str = "Imprimez ce bon avec la fonction d'impression de votre navigateur, puis faites-le signer des deux parties.";
    /// A receipt's number.
    pub const RECEIPT_NUMBER: &'static str = "Numéro";
    /// When the material left.
    pub const RECEIPT_DATE: &'static str = "Date d'enlèvement";
    /// The site of a receipt.
    pub const RECEIPT_SITE: &'static str = "Chantier";
    /// Who gives the material.
    pub const RECEIPT_GIVER: &'static str = "Cédant (maître d'ouvrage)";
    /// Who takes the material.
    pub const RECEIPT_TAKER: &'static str = "Preneur (structure)";
    /// The lot of a receipt.
    pub const RECEIPT_LOT: &'static str = "Lot";
    /// What the claim collected up to this trip.
    pub const RECEIPT_COLLECTED: &'static str = "Cumul de la réservation";
    /// The trip that completed its claim.
    pub const RECEIPT_COMPLETES: &'static str = "(réservation soldée)";
    /// The giver's signature.
    pub const RECEIPT_SIGN_GIVER: &'static str = "Signature du cédant :";
    /// The taker's signature.
    pub const RECEIPT_SIGN_TAKER: &'static str = "Signature du preneur :";
    /// Matches heading.
    pub const MATCHES_TITLE: &'static str = "Structures proposées";
    /// Matches introduction.
    pub const MATCHES_INTRO: &'static str = "Les structures qui peuvent prendre ce lot, les mieux placées d'abord, avec ce qui fait leur score.";
    /// Matching did not answer.
    pub const MATCHES_UNAVAILABLE: &'static str =
        "Les propositions ne sont pas disponibles pour l'instant.";
    /// No match.
    pub const NO_MATCHES: &'static str = "Aucune structure vérifiée ne peut prendre ce lot pour l'instant (catégorie acceptée, rayon d'action).";
    /// Caption of the matches table.
    pub const MATCHES_CAPTION: &'static str = "Score de chaque structure et ses composantes";
    /// Column: partner.
    pub const COL_PARTNER: &'static str = "Structure";
    /// Column: mass.
    pub const COL_MASS: &'static str = "Masse";
    /// Withdraw heading.
    pub const WITHDRAW_TITLE: &'static str = "Retirer le lot";
    /// Withdraw hint.
    pub const WITHDRAW_HINT: &'static str =
        "Le lot n'est plus proposé ; les réservations en cours restent à traiter.";
    /// Withdraw reason.
    pub const WITHDRAW_REASON: &'static str = "Motif (facultatif)";
    /// Withdraw button.
    pub const WITHDRAW: &'static str = "Retirer";
    /// Plan introduction.
    pub const PLAN_INTRO: &'static str = "Qui prend quoi parmi les lots publiés du chantier : le plus de masse réemployée, avec le moins de tonnes-kilomètres.";
    /// Empty plan.
    pub const PLAN_EMPTY: &'static str = "Aucun lot publié ne trouve preneur pour l'instant.";
    /// Plan table caption.
    pub const PLAN_CAPTION: &'static str = "Répartition proposée";
    /// What stays without a taker.
    pub const UNALLOCATED_TITLE: &'static str = "Sans preneur";
    /// Plan total mass.
    pub const PLAN_MASS: &'static str = "Masse répartie";
    /// Plan transport.
    pub const PLAN_TONNE_KM: &'static str = "Transport";
    /// Plan optimality.
    pub const PLAN_OPTIMAL: &'static str = "Optimalité";
    /// A proven optimum.
    pub const PLAN_PROVEN: &'static str =
        "prouvée : aucun plan ne répartit plus de masse, ni autant avec moins de transport";

    // ---- admin: accounts ----
    /// Archive a partner.
    pub const ARCHIVE: &'static str = "Archiver";
    /// Admin: accounts.
    pub const NAV_ACCOUNTS: &'static str = "Comptes";
    /// Accounts page title.
    pub const ACCOUNTS_TITLE: &'static str = "Comptes et invitations";
    /// Accounts list heading.
    pub const ACCOUNTS_LIST: &'static str = "Comptes";
    /// Column: role.
    pub const COL_ROLE: &'static str = "Rôle";
    /// Column: organisation or structure.
    pub const COL_ATTACHED: &'static str = "Organisation ou structure";
    /// An active account.
    pub const ACCOUNT_ACTIVE: &'static str = "actif";
    /// A disabled account.
    pub const ACCOUNT_DISABLED: &'static str = "désactivé";
    /// Disable an account.
    pub const DISABLE: &'static str = "Désactiver";
    /// Invitation heading.
    pub const INVITE_TITLE: &'static str = "Inviter une personne";
    /// Invitation introduction.
    pub const INVITE_INTRO: &'static str =
        "La personne reçoit un lien par courriel pour créer son compte, valable sept jours.";
    /// Organisation of an invited site manager.
    pub const INVITE_ORG: &'static str = "Organisation (pour un·e responsable de chantier)";
    /// Hint of the organisation.
    pub const INVITE_ORG_HINT: &'static str =
        "L'identifiant de l'organisation maître d'ouvrage, par exemple m2a-habitat.";
    /// Partner of an invited partner's staff.
    pub const INVITE_PARTNER: &'static str = "Structure (pour son personnel)";
    /// Hint of the partner.
    pub const INVITE_PARTNER_HINT: &'static str =
        "L'identifiant de la structure, tel qu'il figure dans l'adresse de sa page.";
    /// Invite button.
    pub const INVITE_BUTTON: &'static str = "Envoyer l'invitation";
    /// Invitation sent page title.
    pub const INVITED_TITLE: &'static str = "Invitation envoyée";
    /// Before the invitation link.
    pub const INVITE_LINK: &'static str = "Le lien de l'invitation, si le courriel n'arrive pas :";
    /// Back to the accounts.
    pub const BACK_TO_ACCOUNTS: &'static str = "← Retour aux comptes";

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
    /// Caption of the structure's table of claims.
    pub const CLAIMS_CAPTION: &'static str = "Vos réservations et leur état";
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
            "NOT_HANDED_OVER" => {
                "Cette réservation n'est pas encore enlevée : déclarez une fois les matériaux remis."
            }
            "CHECK_NOT_PASSED" => {
                "Ce lot attend un contrôle (plomb, structure) : il ne peut être publié qu'une fois le contrôle enregistré comme réussi."
            }
            "NO_CHECK_NEEDED" => "Ce lot n'attend aucun contrôle.",
            "INSUFFICIENT_QUANTITY" => "La quantité demandée dépasse ce qui reste : vérifiez-la.",
            "CLAIM_PARTLY_COLLECTED" => {
                "Une partie est déjà enlevée : clôturez la réservation avec ce qui a été enlevé."
            }
            "NOTHING_COLLECTED" => {
                "Rien n'a encore été enlevé : annulez ou refusez la réservation plutôt."
            }
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
        if path == "site.display_name" {
            return Self::SITE_NAME;
        }
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
            "works_start" | "works_start_time" => Self::WORKS_START,
            "works_end" | "works_end_time" => Self::WORKS_END,
            "weighed_mass_g" => Self::WEIGHED_MASS,
            "programme" => Self::PROGRAMME,
            "quartier" => Self::QUARTIER,
            "insee_code" => Self::INSEE_CODE,
            "address" => Self::ADDRESS,
            "owner_org" => Self::SITE_OWNER,
            "kind" => Self::OUTCOME_KIND,
            "mass_g" | "mass_kg" => Self::MASS_KG,
            "outcome_time" => Self::OUTCOME_DATE,
            "destination" => Self::DESTINATION,
            "destination_siret" => Self::DESTINATION_SIRET,
            "activity" => Self::ACTIVITY,
            "minutes" | "hours" => Self::HOURS,
            "people" => Self::PEOPLE,
            "work_time" => Self::WORK_DATE,
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

    /// A field that cannot be read, with its label.
    pub fn unreadable(label: &str, why: &str) -> String {
        format!("{label} : {why}")
    }

    /// Title of a site's edit page.
    pub fn edit_site_title(name: &str) -> String {
        format!("Modifier « {name} »")
    }

    /// Some drafts were not published.
    pub fn publish_refused(n: usize) -> String {
        if n == 1 {
            "Ce brouillon n'a pas été publié ; les autres l'ont été :".to_owned()
        } else {
            format!("Ces {n} brouillons n'ont pas été publiés ; les autres l'ont été :")
        }
    }

    /// Why the API refused, in French: the reason's text when there is
    /// one, else what its code means.
    pub fn refusal(status: &tonic::Status) -> &'static str {
        reemploi_runtime::status::reason(status)
            .and_then(|reason| Self::reason(&reason))
            .unwrap_or(match status.code() {
                tonic::Code::NotFound => Self::ERR_NOT_FOUND_TEXT,
                tonic::Code::PermissionDenied => Self::ERR_PERMISSION,
                tonic::Code::InvalidArgument | tonic::Code::OutOfRange => Self::ERR_INVALID,
                _ => Self::ERR_CONFLICT_TEXT,
            })
    }

    /// Label of a draft's checkbox.
    pub fn select_lot(designation: &str) -> String {
        format!("Choisir « {designation} » pour la publication")
    }

    /// Text of a lot's n-th photo.
    pub fn photo_alt(designation: &str, n: usize) -> String {
        format!("{designation}, photo {n}")
    }

    /// What a claim collected so far, over how many trips.
    pub fn collected(collected: &str, claimed: &str, trips: i32) -> String {
        let trips = if trips == 1 {
            "1 passage".to_owned()
        } else {
            format!("{trips} passages")
        };
        format!("Enlevé : {collected} sur {claimed} ({trips})")
    }

    /// What a claim collected up to a trip, and its mass.
    pub fn collected_of(collected: &str, claimed: &str, mass: &str) -> String {
        format!("{collected} sur {claimed}, {mass}")
    }

    /// The link to a receipt.
    pub fn receipt_link(number: &str) -> String {
        format!("Bon n° {number}")
    }

    /// The title of a receipt's page.
    pub fn receipt_title(number: &str) -> String {
        format!("Bon d'enlèvement n° {number}")
    }

    /// A lot's recorded check: its result, when and by whom.
    pub fn lot_check(passed: bool, date: &str, by: &str) -> String {
        let result = if passed { "réussi" } else { "échoué" };
        format!("{result} le {date}, par {by}")
    }

    /// Label of a trip's quantity, naming the claim among others.
    pub fn trip_quantity(who: &str) -> String {
        format!("Quantité enlevée par {who} lors de ce passage")
    }

    /// Label of the weighed mass of a claim.
    pub fn handover_mass(who: &str) -> String {
        format!("Masse pesée remise à {who}")
    }

    /// A claim named among others: its structure, quantity and date.
    pub fn claim_of(partner: &str, quantity: &str, date: &str) -> String {
        format!("{partner}, {quantity}, le {date}")
    }

    /// Title of a site's allocation plan.
    pub fn plan_title(site: &str) -> String {
        format!("Plan de répartition — {site}")
    }

    /// A plan not proven optimal, with the most any plan could place.
    pub fn plan_bound(mass: &str) -> String {
        format!(
            "non prouvée : la recherche s'est arrêtée à sa limite d'effort ; aucun plan ne répartit plus de {mass}"
        )
    }

    /// Why part of a lot stays out of a plan.
    pub fn unallocated(reason: UnallocatedReason) -> &'static str {
        match reason {
            UnallocatedReason::NoTaker => {
                "aucune structure à portée n'accepte cette catégorie ou n'a de capacité restante"
            }
            UnallocatedReason::NoMass => {
                "le lot n'a pas de masse estimée : indiquez-la pour qu'il soit réparti"
            }
            UnallocatedReason::Unspecified => "raison inconnue",
        }
    }

    /// An account's role.
    pub fn account_role(role: AccountRole) -> &'static str {
        match role {
            AccountRole::SiteManager => "responsable de chantier",
            AccountRole::Partner => "structure de l'ESS",
            AccountRole::Admin => "administration du territoire",
            AccountRole::Integrator => "plateforme partenaire",
            AccountRole::Unspecified => "—",
        }
    }

    /// An invitation sent.
    pub fn invited(email: &str, expires: &str) -> String {
        format!("Invitation envoyée à {email}. Le lien expire le {expires}.")
    }

    /// The signed-in person and role.
    pub fn who(name: &str, role: Role) -> String {
        format!("{name} ({})", Self::role(role))
    }
}

/// The partner section's lot filters, map, claim window, cancellation,
/// recommendations and profile.
impl Fr {
    // ---- lots: filters, list or map ----
    /// Label of the filter form.
    pub const FILTERS: &'static str = "Filtrer les lots";
    /// Filter: family of materials.
    pub const FILTER_FAMILY: &'static str = "Famille de matériaux";
    /// Any family.
    pub const ANY_FAMILY: &'static str = "Toutes les familles";
    /// Filter: radius.
    pub const FILTER_RADIUS: &'static str = "Distance maximale (km)";
    /// Radius hint.
    pub const FILTER_RADIUS_HINT: &'static str =
        "De 1 à 200 km ; par défaut, le rayon d'intervention de votre structure.";
    /// Filter: availability date.
    pub const FILTER_DATE: &'static str = "Disponible le";
    /// Date hint.
    pub const FILTER_DATE_HINT: &'static str =
        "Les lots dont la période d'enlèvement comprend ce jour (facultatif).";
    /// A radius that cannot be read.
    pub const BAD_RADIUS: &'static str = "Indiquez un nombre entier de kilomètres, de 1 à 200.";
    /// A date that cannot be read.
    pub const BAD_DATE: &'static str = "Indiquez une date valable (jj/mm/aaaa).";
    /// No lot matches the filters.
    pub const NO_LOTS_MATCH: &'static str =
        "Aucun lot publié ne correspond à ces critères pour l'instant.";
    /// Caption of the table of lots near a structure.
    pub const LOTS_CAPTION: &'static str =
        "Lots correspondant à vos critères, du plus proche au plus lointain";
    /// Label of the list / map switch.
    pub const VIEW_NAV: &'static str = "Affichage des lots";
    /// List view.
    pub const VIEW_LIST: &'static str = "Liste";
    /// Map view.
    pub const VIEW_MAP: &'static str = "Carte";

    // ---- map ----
    /// Legend: a lot.
    pub const MAP_KEY_LOT: &'static str = "Lot (lien vers sa page)";
    /// Legend: a site.
    pub const MAP_KEY_SITE: &'static str = "Chantier";
    /// Legend: a structure.
    pub const MAP_KEY_PARTNER: &'static str = "Structure";
    /// Legend: a commune.
    pub const MAP_KEY_COMMUNE: &'static str = "Commune de m2A";
    /// Legend: a quartier.
    pub const MAP_KEY_QUARTIER: &'static str = "Quartier en renouvellement urbain (NPNRU)";
    /// Legend: the reach circle.
    pub const MAP_KEY_REACH: &'static str = "Distance maximale choisie";
    /// Heading of the text list of the map's points.
    pub const MAP_LIST: &'static str = "Les points de la carte";
    /// Nothing to place.
    pub const MAP_EMPTY: &'static str = "Aucun point à placer.";
    /// The structure's own point, detail.
    pub const MAP_HOME: &'static str = "lieu de réception de vos matériaux";

    // ---- claim: pick-up window, cancellation ----
    /// Pick-up window legend.
    pub const PICKUP_LEGEND: &'static str = "Enlèvement souhaité (facultatif)";
    /// Pick-up from.
    pub const PICKUP_FROM: &'static str = "À partir du";
    /// Pick-up until.
    pub const PICKUP_UNTIL: &'static str = "Jusqu'au (inclus)";
    /// Pick-up window on a claim's page.
    pub const PICKUP: &'static str = "Enlèvement souhaité";
    /// A window that ends before it starts.
    pub const BAD_WINDOW: &'static str = "La date de fin doit être le jour de début ou après.";
    /// Cancel heading and button.
    pub const CANCEL_CLAIM: &'static str = "Annuler la réservation";
    /// Short cancel button, in lists.
    pub const CANCEL: &'static str = "Annuler";
    /// Cancellation reason.
    pub const CANCEL_REASON: &'static str = "Motif pour le chantier (facultatif)";
    /// What cancelling does.
    pub const CANCEL_HINT: &'static str =
        "La quantité réservée redevient disponible pour les autres structures.";

    // ---- recommendations ----
    /// Nav and page title.
    pub const NAV_RECOMMENDATIONS: &'static str = "Lots recommandés";
    /// Recommendations title.
    pub const RECOMMEND_TITLE: &'static str = "Lots recommandés";
    /// Recommendations introduction.
    pub const RECOMMEND_INTRO: &'static str = "Les lots publiés qui conviennent le mieux à votre structure, les meilleurs d'abord. Le score (de 0 à 100 %) combine la catégorie acceptée, la proximité, votre capacité d'accueil, l'urgence (date limite du lot) et un bonus pour les structures d'insertion.";
    /// No recommendation.
    pub const NO_RECOMMENDATIONS: &'static str = "Aucun lot à recommander pour l'instant : aucun lot publié dans votre rayon ne correspond à vos catégories ou à votre capacité.";
    /// Recommendations need verification.
    pub const RECOMMEND_PENDING: &'static str =
        "Les recommandations commencent une fois votre structure vérifiée.";
    /// Column: score.
    pub const COL_SCORE: &'static str = "Score";
    /// Caption of the recommendations' table.
    pub const RECOMMEND_CAPTION: &'static str = "Lots recommandés, leur score et ses composantes";
    /// Factor: category fit.
    pub const SCORE_CATEGORY: &'static str = "Catégorie";
    /// Factor: distance.
    pub const SCORE_DISTANCE: &'static str = "Proximité";
    /// Factor: capacity.
    pub const SCORE_CAPACITY: &'static str = "Capacité";
    /// Factor: urgency.
    pub const SCORE_URGENCY: &'static str = "Urgence";
    /// Factor: insertion.
    pub const SCORE_INSERTION: &'static str = "Insertion";
    /// A lot matching no longer shows.
    pub const LOT_UNREADABLE: &'static str = "Lot (détails indisponibles)";

    // ---- profile ----
    /// Profile page title.
    pub const PROFILE_TITLE: &'static str = "Ma structure";
    /// Profile edit heading.
    pub const PROFILE_EDIT: &'static str = "Modifier le profil";
    /// Profile save button.
    pub const PROFILE_SAVE: &'static str = "Enregistrer les modifications";
    /// After a save.
    pub const PROFILE_SAVED: &'static str = "Les modifications sont enregistrées.";

    /// The introduction of the lots near, with the radius used.
    pub fn lots_intro(radius_km: i64) -> String {
        format!(
            "Lots publiés à moins de {radius_km} km de votre structure, du plus proche au plus lointain."
        )
    }

    /// Only the nearest of the lots kept are shown.
    pub fn lots_cut(shown: usize, kept: usize) -> String {
        format!(
            "{kept} lots correspondent à ces critères : seuls les {shown} plus proches sont affichés. Précisez les critères pour voir les autres."
        )
    }

    /// The search read only some of the lots within the radius.
    pub fn lots_unread(read: usize) -> String {
        format!(
            "La recherche s'est arrêtée après {read} lots publiés dans ce rayon : d'autres lots correspondant à ces critères peuvent manquer. Réduisez la distance pour une recherche complète."
        )
    }

    /// The accessible name of the map of lots.
    pub fn lots_map(lots: usize) -> String {
        let lots = match lots {
            0 => "aucun lot".to_owned(),
            1 => "1 lot".to_owned(),
            n => format!("{n} lots"),
        };
        format!("Carte du territoire de m2A : {lots}, leurs chantiers et votre structure")
    }

    /// What a point of the map is, in its text list.
    pub fn map_mark(mark: crate::map::Mark) -> &'static str {
        match mark {
            crate::map::Mark::Lot => "Lot",
            crate::map::Mark::Site => "Chantier",
            crate::map::Mark::Partner => "Structure",
        }
    }

    /// A lot's detail in the map's list: distance and quantity available.
    pub fn lot_detail(distance: &str, available: &str) -> String {
        format!("{distance}, {available} {}", Self::LEDGER_AVAILABLE)
    }

    /// A pick-up window of whole days.
    pub fn window(from: Option<&str>, until: Option<&str>) -> String {
        match (from, until) {
            (Some(f), Some(u)) if f == u => format!("le {f}"),
            (Some(f), Some(u)) => format!("du {f} au {u}"),
            (Some(f), None) => format!("à partir du {f}"),
            (None, Some(u)) => format!("jusqu'au {u}"),
            (None, None) => "—".to_owned(),
        }
    }

    /// Only the first claims are listed.
    pub fn claims_cut(shown: usize) -> String {
        format!("Seules vos {shown} premières réservations sont affichées.")
    }

    /// A cancel button's accessible name, in a list of claims: the lot, the
    /// quantity claimed and when, since one lot may be claimed several times.
    pub fn cancel_claim_of(lot: &str, quantity: &str, claimed_at: &str) -> String {
        format!(
            "{} : {lot}, {quantity}, réservée le {claimed_at}",
            Self::CANCEL_CLAIM
        )
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

    /// A file of more rows than one import takes.
    pub fn import_too_many_rows(n: usize, max: usize) -> String {
        format!(
            "Le fichier compte {n} lignes : un import en prend au plus {max}. Découpez-le en plusieurs fichiers."
        )
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
            "mass_t" => "Masse (t)",
            "reuse_potential" => "Potentiel de réemploi",
            "email" => "Courriel",
            "telephone" | "phone" => "Téléphone",
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

// ---- the territory's figures (pages::figures, chart, map) ----
impl Fr {
    /// Admin and site manager: the figures.
    pub const NAV_FIGURES: &'static str = "Chiffres du territoire";
    /// Figures page title.
    pub const FIGURES_TITLE: &'static str = "Chiffres du territoire";
    /// Figures page introduction.
    pub const FIGURES_INTRO: &'static str = "Ce que les matériaux remis aux structures de l'ESS sont devenus : tonnes remises, réemploi, CO2e évité, heures d'insertion. Les remises comptent à la date où elles ont eu lieu, avec tout ce qui a été déclaré sur elles.";
    /// Accessible name of the filter form.
    pub const FIGURES_FILTERS: &'static str = "Filtrer les chiffres";
    /// Period start.
    pub const FIGURES_FROM: &'static str = "Du";
    /// Period end.
    pub const FIGURES_UNTIL: &'static str = "Au (inclus)";
    /// Territory filter.
    pub const FIGURES_TERRITORY: &'static str = "Territoire";
    /// Everything.
    pub const ALL_TERRITORY: &'static str = "Tout le territoire";
    /// Group of the communes in the territory select.
    pub const COMMUNES: &'static str = "Communes";
    /// Group of the quartiers in the territory select.
    pub const QUARTIERS: &'static str = "Quartiers en renouvellement urbain";
    /// Structure filter.
    pub const FIGURES_PARTNER: &'static str = "Structure";
    /// Every structure.
    pub const ANY_PARTNER: &'static str = "Toutes les structures";
    /// A territory the page cannot read.
    pub const BAD_TERRITORY: &'static str = "Choisissez une commune ou un quartier de la liste.";
    /// A structure the page cannot read.
    pub const BAD_PARTNER: &'static str = "Choisissez une structure de la liste.";
    /// A family the page cannot read.
    pub const BAD_FAMILY: &'static str = "Choisissez une famille de la liste.";
    /// Totals heading.
    pub const FIGURES_TOTALS: &'static str = "Totaux";
    /// Mass handed over.
    pub const HANDED_OVER_MASS: &'static str = "Masse remise aux structures";
    /// The diagnostic's estimate.
    pub const DIAGNOSTIC_ESTIMATE: &'static str = "Masse estimée au diagnostic";
    /// Reuse rate.
    pub const REUSE_RATE: &'static str = "Taux de réemploi (masse réemployée / estimation)";
    /// Masses by outcome heading.
    pub const BY_OUTCOME: &'static str = "Devenir des matériaux remis";
    /// Reused as is.
    pub const OUTCOME_REUSED_AS_IS: &'static str = "Réemployé tel quel";
    /// Reused after refurbishing.
    pub const OUTCOME_REUSED_REFURBISHED: &'static str = "Réemployé après remise en état";
    /// Resold.
    pub const OUTCOME_RESOLD: &'static str = "Revendu";
    /// Recycled.
    pub const OUTCOME_RECYCLED: &'static str = "Recyclé";
    /// Disposed of.
    pub const OUTCOME_DISPOSED: &'static str = "Éliminé";
    /// Handed over with no outcome declared.
    pub const OUTCOME_UNDECLARED: &'static str = "Devenir pas encore déclaré";
    /// Unit of CO2e figures.
    pub const CO2E: &'static str = "CO2e";
    /// CO2e heading.
    pub const CO2E_AVOIDED: &'static str = "CO2e évité";
    /// Gross CO2e avoided.
    pub const CO2E_GROSS: &'static str = "Évité brut (produits neufs non fabriqués)";
    /// Transport CO2e.
    pub const CO2E_TRANSPORT: &'static str = "Transport du chantier à la structure";
    /// Net CO2e.
    pub const CO2E_NET: &'static str = "CO2e évité net";
    /// Share of reused mass without factor.
    pub const WITHOUT_FACTOR: &'static str = "Part de la masse réemployée sans facteur d'émission";
    /// Method version.
    pub const METHOD_VERSION: &'static str = "Version de la méthode";
    /// What the CO2e figures leave out.
    pub const CO2E_HINT: &'static str = "Seuls les matériaux réemployés ou revendus comptent, avec le facteur publié du produit neuf qu'ils remplacent ; une catégorie sans facteur public compte zéro, et sa masse est donnée à part.";
    /// Insertion heading.
    pub const INSERTION: &'static str = "Insertion";
    /// Insertion hours.
    pub const INSERTION_HOURS: &'static str = "Heures d'insertion";
    /// People in insertion.
    pub const INSERTION_PEOPLE: &'static str = "Personnes en insertion";
    /// Counts heading.
    pub const COUNTS: &'static str = "Nombres";
    /// Lots handed over.
    pub const COUNT_LOTS: &'static str = "Lots remis";
    /// Claims handed over.
    pub const COUNT_CLAIMS: &'static str = "Réservations remises";
    /// Partners that received material.
    pub const COUNT_PARTNERS: &'static str = "Structures ayant reçu des matériaux";
    /// By quartier heading.
    pub const BY_QUARTIER: &'static str = "Par quartier";
    /// By quartier table caption.
    pub const BY_QUARTIER_CAPTION: &'static str = "Chiffres par quartier";
    /// By month heading.
    pub const BY_MONTH: &'static str = "Par mois";
    /// By month table caption.
    pub const BY_MONTH_CAPTION: &'static str = "Chiffres par mois de remise";
    /// Column: quartier.
    pub const COL_QUARTIER: &'static str = "Quartier";
    /// Column: month.
    pub const COL_MONTH: &'static str = "Mois";
    /// A group without a key (a site without a quartier...).
    pub const NO_GROUP: &'static str = "Non renseigné";
    /// Chart by quartier: name.
    pub const CHART_QUARTIER_TITLE: &'static str = "Masse remise par quartier";
    /// Chart by quartier: description.
    pub const CHART_QUARTIER_DESC: &'static str = "Diagramme en barres horizontales : une barre par quartier, de longueur proportionnelle à la masse remise ; les mêmes chiffres sont dans le tableau qui suit.";
    /// Chart by month: name.
    pub const CHART_MONTH_TITLE: &'static str = "Masse remise par mois";
    /// Chart by month: description.
    pub const CHART_MONTH_DESC: &'static str = "Diagramme en barres horizontales : une barre par mois, de longueur proportionnelle à la masse remise ce mois-là ; les mêmes chiffres sont dans le tableau qui suit.";
    /// A chart with nothing to draw.
    pub const CHART_EMPTY: &'static str = "Aucune remise pour ces critères.";
    /// Map heading.
    pub const FIGURES_MAP: &'static str = "Carte";
    /// How to read the map.
    pub const FIGURES_MAP_HINT: &'static str = "Chaque cercle est une commune ou un quartier : sa surface et sa teinte croissent avec la masse remise.";
    /// Accessible name of the map of figures.
    pub const FIGURES_MAP_LABEL: &'static str =
        "Carte du territoire de m2A : masse remise par commune et par quartier";
    /// Heading of the map's text list.
    pub const AMOUNTS_LIST: &'static str = "Masse remise par lieu";
    /// A place the map cannot draw.
    pub const AMOUNT_NOT_PLACED: &'static str = "(absent de la carte)";
    /// Downloads heading.
    pub const DOWNLOADS: &'static str = "Télécharger les chiffres";
    /// What the CSV files are.
    pub const DOWNLOADS_HINT: &'static str = "Fichiers CSV pour tableur (séparateur point-virgule, virgule décimale, masses en kilogrammes), avec les mêmes filtres.";
    /// The CSV header, in the order the page writes the cells.
    pub const CSV_COLUMNS: [&'static str; 23] = [
        "clé",
        "libellé",
        "masse remise (kg)",
        "réemployé tel quel (kg)",
        "réemployé après remise en état (kg)",
        "revendu (kg)",
        "recyclé (kg)",
        "éliminé (kg)",
        "devenir non déclaré (kg)",
        "estimation du diagnostic (kg)",
        "taux de réemploi",
        "CO2e évité brut (kg)",
        "CO2e transport (kg)",
        "CO2e évité net (kg)",
        "masse réemployée sans facteur (kg)",
        "part sans facteur",
        "heures d'insertion",
        "personnes en insertion",
        "ETP",
        "lots",
        "réservations",
        "structures",
        "méthode",
    ];

    /// The FTE line, with its divisor.
    pub fn fte_base(hours_per_year: i32) -> String {
        format!("Équivalents temps plein (base {hours_per_year} h par an)")
    }

    /// A month key `YYYY-MM` for a person: "mars 2026" (the key itself if
    /// it is not one).
    pub fn month_label(key: &str) -> String {
        const MONTHS: [&str; 12] = [
            "janvier",
            "février",
            "mars",
            "avril",
            "mai",
            "juin",
            "juillet",
            "août",
            "septembre",
            "octobre",
            "novembre",
            "décembre",
        ];
        let month = key
            .split_once('-')
            .and_then(|(y, m)| Some((y, m.parse::<usize>().ok()?)))
            .filter(|(y, m)| y.len() == 4 && (1..=12).contains(m));
        match month {
            Some((y, m)) => format!("{} {y}", MONTHS[m - 1]),
            None => key.to_owned(),
        }
    }

    /// A legend line of the map: the masses of one shade.
    pub fn amount_range(from: &str, to: &str) -> String {
        format!("Plus de {from}, jusqu'à {to}")
    }

    /// What a place of the map's list is.
    pub fn amount_kind(quartier: bool) -> &'static str {
        if quartier { "Quartier" } else { "Commune" }
    }

    /// A CSV link, by grouping.
    pub fn download_by(grouping: reemploi_proto::impact::Grouping) -> &'static str {
        use reemploi_proto::impact::Grouping;
        match grouping {
            Grouping::Quartier => "Par quartier (CSV)",
            Grouping::Month => "Par mois (CSV)",
            Grouping::Commune => "Par commune (CSV)",
            Grouping::Partner => "Par structure (CSV)",
            Grouping::Category => "Par catégorie de matériaux (CSV)",
            Grouping::Site => "Par chantier (CSV)",
            Grouping::Unspecified => "Total (CSV)",
        }
    }
}

// ---- declarations on a handed-over claim (pages::declare) ----
impl Fr {
    /// On a handed-over claim in the list.
    pub const DECLARE_LINK: &'static str = "Déclarer le devenir et les heures";
    /// Outcomes heading.
    pub const OUTCOMES_TITLE: &'static str = "Devenir des matériaux";
    /// Hours heading.
    pub const HOURS_TITLE: &'static str = "Heures d'insertion";
    /// The impact service does not answer.
    pub const DECLARATIONS_UNAVAILABLE: &'static str =
        "Les déclarations ne sont pas disponibles pour l'instant. Réessayez dans un moment.";
    /// No outcome yet.
    pub const NO_OUTCOMES: &'static str = "Aucun devenir déclaré pour l'instant.";
    /// No hours yet.
    pub const NO_HOURS: &'static str = "Aucune heure déclarée pour l'instant.";
    /// Outcomes table caption.
    pub const OUTCOMES_CAPTION: &'static str = "Devenirs déclarés";
    /// Hours table caption.
    pub const HOURS_CAPTION: &'static str = "Heures déclarées";
    /// Outcome kind.
    pub const OUTCOME_KIND: &'static str = "Devenir";
    /// An outcome declared by mass only.
    pub const MASS_ONLY: &'static str = "(masse seule)";
    /// Destination.
    pub const DESTINATION: &'static str = "Destination";
    /// Destination's SIRET.
    pub const DESTINATION_SIRET: &'static str = "SIRET de la destination";
    /// Optional field.
    pub const OPTIONAL: &'static str = "Facultatif.";
    /// Outcome form heading.
    pub const DECLARE_OUTCOME: &'static str = "Déclarer un devenir";
    /// Outcome form button.
    pub const DECLARE_OUTCOME_BUTTON: &'static str = "Déclarer ce devenir";
    /// Quantity or mass legend.
    pub const HOW_MUCH: &'static str = "Combien";
    /// Quantity or mass hint.
    pub const HOW_MUCH_HINT: &'static str = "Une quantité, une masse, ou les deux. Avec une quantité seule, la masse est calculée au prorata de la masse pesée à la remise.";
    /// Mass field.
    pub const MASS_KG: &'static str = "Masse (kg)";
    /// Outcome date.
    pub const OUTCOME_DATE: &'static str = "Date";
    /// Work date.
    pub const WORK_DATE: &'static str = "Date du travail";
    /// Date hint.
    pub const DATE_HINT: &'static str =
        "Facultatif : aujourd'hui par défaut. Jamais dans le futur.";
    /// Hours form heading.
    pub const DECLARE_HOURS: &'static str = "Déclarer des heures";
    /// Hours form button.
    pub const DECLARE_HOURS_BUTTON: &'static str = "Déclarer ces heures";
    /// Activity.
    pub const ACTIVITY: &'static str = "Activité";
    /// Hours.
    pub const HOURS: &'static str = "Heures";
    /// Hours hint.
    pub const HOURS_HINT: &'static str = "Heures travaillées par les personnes en insertion, en décimal : 1,5 pour une heure et demie.";
    /// People.
    pub const PEOPLE: &'static str = "Personnes en insertion";
    /// People hint.
    pub const PEOPLE_HINT: &'static str = "Combien de personnes en insertion ont travaillé.";
    /// A choice outside the list.
    pub const BAD_CHOICE: &'static str = "Choisissez une valeur de la liste.";
    /// A date in the future.
    pub const BAD_FUTURE: &'static str = "La date ne peut pas être dans le futur.";
    /// Hours unreadable.
    pub const BAD_HOURS: &'static str = "Indiquez un nombre d'heures positif (par exemple 1,5).";
    /// People unreadable.
    pub const BAD_PEOPLE: &'static str = "Indiquez un nombre entier de personnes, au moins 1.";
    /// Neither a quantity nor a mass.
    pub const QUANTITY_OR_MASS: &'static str = "Indiquez une quantité ou une masse.";
    /// The mass declared would pass what was handed over.
    pub const MASS_EXCEEDED: &'static str = "Avec cette masse, le total déclaré dépasserait la masse remise : indiquez au plus ce qui reste à déclarer.";
    /// The quantity declared would pass what was handed over.
    pub const QUANTITY_EXCEEDED: &'static str =
        "Avec cette quantité, le total déclaré dépasserait la quantité remise.";
    /// A refusal the page cannot explain better.
    pub const DECLARATION_REFUSED: &'static str = "Cette déclaration n'est pas possible : vérifiez que la réservation est remise et que le total déclaré ne dépasse pas ce qui a été remis.";

    /// The name of an outcome kind.
    pub fn outcome_kind(kind: reemploi_proto::impact::OutcomeKind) -> &'static str {
        use reemploi_proto::impact::OutcomeKind;
        match kind {
            OutcomeKind::ReusedAsIs => Self::OUTCOME_REUSED_AS_IS,
            OutcomeKind::ReusedRefurbished => Self::OUTCOME_REUSED_REFURBISHED,
            OutcomeKind::Resold => Self::OUTCOME_RESOLD,
            OutcomeKind::Recycled => Self::OUTCOME_RECYCLED,
            OutcomeKind::Disposed => Self::OUTCOME_DISPOSED,
            OutcomeKind::Unspecified => "—",
        }
    }

    /// The name of an activity.
    pub fn activity(activity: reemploi_proto::impact::Activity) -> &'static str {
        use reemploi_proto::impact::Activity;
        match activity {
            Activity::Dismantling => "Démontage",
            Activity::Collection => "Collecte",
            Activity::Sorting => "Tri",
            Activity::Refurbishing => "Remise en état",
            Activity::Unspecified => "—",
        }
    }

    /// The link to a handed-over claim's declarations, in a list.
    pub fn declare_on(lot: &str) -> String {
        format!("{} : {lot}", Self::DECLARE_LINK)
    }

    /// Mass declared so far against the mass handed over.
    pub fn declared_of(declared: &str, handed_over: &str) -> String {
        format!("Déclaré : {declared} sur {handed_over} remis.")
    }

    /// The unit quantities are counted in.
    pub fn claim_unit(unit: &str) -> String {
        format!("Les quantités sont en {unit}, l'unité du lot.")
    }

    /// The quantity field of an outcome.
    pub fn declared_quantity(unit: &str) -> String {
        format!("Quantité (en {unit})")
    }

    /// The mass left to declare, under the mass field.
    pub fn mass_left(left: &str) -> String {
        format!("Au plus {left} restant à déclarer.")
    }
}

/// The notifications page and the header's link to it.
impl Fr {
    /// The header's link to the notifications.
    pub const NAV_NOTIFICATIONS: &'static str = "Notifications";
    /// The notifications page title.
    pub const NOTIFICATIONS_TITLE: &'static str = "Notifications";
    /// What the page says first.
    pub const NOTIFICATIONS_INTRO: &'static str =
        "Ce que la plateforme vous a signalé, du plus récent au plus ancien.";
    /// No notification at all.
    pub const NO_NOTIFICATIONS: &'static str = "Rien pour le moment.";
    /// The button marking every notification read.
    pub const MARK_ALL_READ: &'static str = "Tout marquer comme lu";
    /// A notification not read yet.
    pub const UNREAD: &'static str = "Nouveau";
    /// The link of a notification to its page.
    pub const SEE: &'static str = "Voir";
    /// The list's accessible name.
    pub const NOTIFICATIONS_LIST: &'static str = "Vos notifications";

    /// How many notifications are unread, for the page.
    pub fn unread_count(n: i64) -> String {
        match n {
            0 => "Tout est lu.".to_owned(),
            1 => "1 notification non lue.".to_owned(),
            n => format!("{n} notifications non lues."),
        }
    }
}

/// The unsubscribe page that notification emails link to.
impl Fr {
    /// Its title.
    pub const UNSUBSCRIBE_TITLE: &'static str = "Se désabonner des courriels";
    /// What the button does.
    pub const UNSUBSCRIBE_INTRO: &'static str = "Ce lien vient d'un courriel de notification de reemploi. Confirmez pour ne plus recevoir ce type de notification par courriel ; vous la verrez toujours dans l'application.";
    /// The button.
    pub const UNSUBSCRIBE_BUTTON: &'static str = "Ne plus recevoir ces courriels";
    /// A link that is not one of the platform's.
    pub const UNSUBSCRIBE_BAD_LINK: &'static str =
        "Ce lien de désabonnement n'est pas valable. Copiez-le en entier depuis le courriel reçu.";
    /// Where to change one's mind.
    pub const UNSUBSCRIBE_AGAIN: &'static str =
        "Vous pourrez changer d'avis dans les préférences de votre compte.";

    /// Once done: which kind of notification no longer comes by email.
    pub fn unsubscribed(kind: reemploi_proto::notify::NotificationKind) -> String {
        format!(
            "C'est fait : vous ne recevrez plus par courriel les notifications {}.",
            Fr::notification_kind(kind)
        )
    }

    /// A kind of notification, after « les notifications ».
    pub fn notification_kind(kind: reemploi_proto::notify::NotificationKind) -> &'static str {
        use reemploi_proto::notify::NotificationKind as K;
        match kind {
            K::LotProposed => "de lots proposés",
            K::NeedMatched => "de lots qui répondent à vos recherches",
            K::ClaimConfirmed => "de réservations confirmées",
            K::ClaimRejected => "de réservations refusées",
            K::ReservationExpiring => "de réservations qui expirent bientôt",
            K::ClaimedLotWithdrawn => "de lots réservés puis retirés",
            K::PartnerVerified => "de vérification de votre structure",
            K::PartnerSuspended => "de suspension de votre structure",
            K::ClaimReserved => "de nouvelles réservations",
            K::ClaimCancelled => "de réservations annulées",
            K::PickupBooked => "d'enlèvements prévus",
            K::LotExpiring => "de lots qui expirent sans preneur",
            K::PartnerPending => "de structures à vérifier",
            K::DeadLetter => "d'événements non traités",
            K::Unspecified => "de ce type",
        }
    }
}
