//! Every sentence the service writes, in French, in one place: the title
//! and body of each kind of notification, and the web app's page it links
//! to.

use crate::model::{Audience, Draft, Kind};

/// What a notification says about one thing (a lot, a partner...).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// What the lot is (`Radiateurs fonte (R12)`), or the partner's name.
    pub subject: String,
    /// Who else is concerned (the partner who claimed), possibly empty.
    pub who: String,
    /// A date, written for people (`le 30/11/2026`), possibly empty.
    pub when: String,
}

/// The title and body of a notification of `kind`.
pub fn words(kind: Kind, f: &Facts) -> (String, String) {
    let Facts { subject, who, when } = f;
    let (title, body) = match kind {
        Kind::LotProposed => (
            format!("Un lot vous est proposé : {subject}"),
            String::new(),
        ),
        Kind::NeedMatched => (
            format!("Un lot répond à votre recherche : {subject}"),
            "Il vous est proposé en premier.".to_owned(),
        ),
        Kind::ClaimConfirmed => (
            format!("Votre réservation est confirmée : {subject}"),
            "Vous pouvez réserver un créneau d'enlèvement.".to_owned(),
        ),
        Kind::ClaimRejected => (
            format!("Votre réservation a été refusée : {subject}"),
            String::new(),
        ),
        Kind::ReservationExpiring => (
            format!("Votre réservation expire bientôt : {subject}"),
            format!("Sans confirmation du chantier, elle prend fin {when}."),
        ),
        Kind::ClaimedLotWithdrawn => (
            format!("Un lot que vous avez réservé a été retiré : {subject}"),
            String::new(),
        ),
        Kind::PartnerVerified => (
            "Votre structure est vérifiée".to_owned(),
            format!("{subject} peut désormais réserver des lots."),
        ),
        Kind::PartnerSuspended => (
            "Votre structure est suspendue".to_owned(),
            format!("{subject} ne peut plus réserver de lots pour le moment."),
        ),
        Kind::ClaimReserved => (
            format!("Nouvelle réservation : {subject}"),
            format!("Par {who}."),
        ),
        Kind::ClaimCancelled => (
            format!("Réservation annulée : {subject}"),
            format!("Par {who}."),
        ),
        Kind::PickupBooked => (
            format!("Enlèvement prévu : {subject}"),
            format!("{who} viendra {when}."),
        ),
        Kind::LotExpiring => (
            format!("Un lot expire sans preneur : {subject}"),
            format!("Il est disponible jusqu'{when}."),
        ),
        Kind::PartnerPending => (format!("Structure à vérifier : {subject}"), String::new()),
        Kind::DeadLetter => (
            "Un événement n'a pas pu être traité".to_owned(),
            format!("{subject} : {who}"),
        ),
    };
    (title, body)
}

/// A notification of `kind` to `audience`, worded from `facts`, made once
/// under `dedup`; of no event unless the caller says which.
pub fn draft(
    dedup: String,
    audience: Audience,
    kind: Kind,
    facts: &Facts,
    resource: &str,
    link: String,
) -> Draft {
    let (title, body) = words(kind, facts);
    Draft {
        dedup,
        audience,
        kind,
        title,
        body,
        resource: resource.to_owned(),
        link,
        event_id: None,
    }
}

/// How a lot is named in a sentence: its designation, and its reference
/// when it has one.
pub fn lot(designation: &str, reference: &str) -> String {
    if reference.is_empty() {
        designation.to_owned()
    } else {
        format!("{designation} ({reference})")
    }
}

/// A lot whose details have not arrived yet.
pub const SOME_LOT: &str = "un lot";
/// A partner whose details have not arrived yet.
pub const SOME_PARTNER: &str = "une structure";

/// `le 30/11/2026` (UTC) for Unix milliseconds `ms`.
pub fn date(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let (y, m, d) = reemploi_domain::calendar::civil(days);
    format!("le {d:02}/{m:02}/{y}")
}

/// `au 30/11/2026`: [`date`] after « jusqu' ».
pub fn until(ms: i64) -> String {
    date(ms).replacen("le ", "au ", 1)
}

/// The web app's page about a lot, for its site's managers.
pub fn site_lot_page(lot: &str) -> String {
    match lot.split('/').collect::<Vec<_>>()[..] {
        ["sites", site, "lots", id] => format!("/chantiers/{site}/lots/{id}"),
        _ => String::new(),
    }
}

/// The web app's page about a lot, for partners.
pub fn partner_lot_page(lot: &str) -> String {
    match lot.split('/').collect::<Vec<_>>()[..] {
        ["sites", site, "lots", id] => format!("/lots/{site}/{id}"),
        _ => String::new(),
    }
}

/// A partner's claims.
pub const CLAIMS_PAGE: &str = "/mes-reservations";
/// The partners to verify.
pub const PARTNERS_PAGE: &str = "/partenaires";
/// The home page.
pub const HOME_PAGE: &str = "/";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_pages() {
        // 2026-11-30T23:59:59Z and 2024-02-29T00:00:00Z.
        assert_eq!(date(1_796_083_199_000), "le 30/11/2026");
        assert_eq!(date(1_709_164_800_000), "le 29/02/2024");
        assert_eq!(until(1_709_164_800_000), "au 29/02/2024");
        assert_eq!(site_lot_page("sites/s1/lots/r12"), "/chantiers/s1/lots/r12");
        assert_eq!(partner_lot_page("sites/s1/lots/r12"), "/lots/s1/r12");
        assert_eq!(partner_lot_page("partners/x"), "");
    }

    #[test]
    fn every_kind_has_a_title() {
        let f = Facts {
            subject: "Radiateurs (R12)".into(),
            who: "Atelier".into(),
            when: "le 01/12/2026".into(),
        };
        for k in Kind::ALL {
            let (title, _) = words(k, &f);
            assert!(!title.is_empty(), "{k:?}");
        }
    }
}
