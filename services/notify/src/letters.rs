//! The notification emails, in French: one notification as it comes, or a
//! day's in one digest; each with the links to turn its kinds off.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use reemploi_mail::{Mail, escape_html};

use crate::model::Kind;

/// One notification as an email tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// What it is about.
    pub kind: Kind,
    /// One French sentence.
    pub title: String,
    /// A few more words, possibly empty.
    pub body: String,
    /// The web app's page about it (a path), possibly empty.
    pub link: String,
}

/// The path of the web app's unsubscribe page.
pub const UNSUBSCRIBE_PAGE: &str = "/notifications/desabonnement";

/// The subject of a digest.
pub const DIGEST_SUBJECT: &str = "Vos notifications reemploi du jour";

/// How a kind is named to people (after « les notifications »).
pub fn kind_label(kind: Kind) -> &'static str {
    match kind {
        Kind::LotProposed => "de lots proposés",
        Kind::NeedMatched => "de lots qui répondent à vos recherches",
        Kind::ClaimConfirmed => "de réservations confirmées",
        Kind::ClaimRejected => "de réservations refusées",
        Kind::ReservationExpiring => "de réservations qui expirent bientôt",
        Kind::ClaimedLotWithdrawn => "de lots réservés puis retirés",
        Kind::PartnerVerified => "de vérification de votre structure",
        Kind::PartnerSuspended => "de suspension de votre structure",
        Kind::ClaimReserved => "de nouvelles réservations",
        Kind::ClaimCancelled => "de réservations annulées",
        Kind::PickupBooked => "d'enlèvements prévus",
        Kind::LotExpiring => "de lots qui expirent sans preneur",
        Kind::PartnerPending => "de structures à vérifier",
        Kind::DeadLetter => "d'événements non traités",
    }
}

/// The unsubscribe link of `token`.
pub fn unsubscribe_url(public_url: &str, token: &str) -> String {
    format!("{public_url}{UNSUBSCRIBE_PAGE}?jeton={token}")
}

/// The page of a notification, if it has one.
fn page(public_url: &str, link: &str) -> Option<String> {
    (!link.is_empty()).then(|| format!("{public_url}{link}"))
}

const SIGNATURE: &str = "reemploi — le réemploi des matériaux de chantier";
const WHY: &str = "Vous recevez ce message parce que votre compte reemploi est concerné. \
                   Ce message est envoyé automatiquement, merci de ne pas y répondre.";

/// One notification to `to`; `token` makes the unsubscribe token of a kind.
pub fn single(public_url: &str, to: &str, item: &Item, token: impl Fn(Kind) -> String) -> Mail {
    let mut text = format!("{}\n", item.title);
    let mut html = format!("<p><strong>{}</strong></p>\n", escape_html(&item.title));
    if !item.body.is_empty() {
        let _ = write!(text, "\n{}\n", item.body);
        let _ = writeln!(html, "<p>{}</p>", escape_html(&item.body));
    }
    if let Some(url) = page(public_url, &item.link) {
        let _ = write!(text, "\nVoir sur reemploi\u{a0}:\n{url}\n");
        let _ = writeln!(
            html,
            "<p><a href=\"{0}\">Voir sur reemploi</a></p>",
            escape_html(&url)
        );
    }
    let stop = unsubscribe_url(public_url, &token(item.kind));
    let label = kind_label(item.kind);
    let _ = write!(
        text,
        "\n-- \n{WHY}\nNe plus recevoir par courriel les notifications {label}\u{a0}:\n{stop}\n{SIGNATURE}\n"
    );
    mail(to, &item.title, text, &html, &[(label, stop)])
}

/// A day's notifications to `to` in one email: their titles as a list,
/// each with its page, and one unsubscribe link per kind present.
pub fn digest(public_url: &str, to: &str, items: &[&Item], token: impl Fn(Kind) -> String) -> Mail {
    let mut text = String::from("Voici ce qui vous concerne sur reemploi\u{a0}:\n\n");
    let mut html = String::from("<p>Voici ce qui vous concerne sur reemploi&nbsp;:</p>\n<ul>\n");
    for item in items {
        let _ = writeln!(text, "- {}", item.title);
        match page(public_url, &item.link) {
            Some(url) => {
                let _ = writeln!(text, "  {url}");
                let _ = writeln!(
                    html,
                    "<li><a href=\"{}\">{}</a></li>",
                    escape_html(&url),
                    escape_html(&item.title)
                );
            }
            None => {
                let _ = writeln!(html, "<li>{}</li>", escape_html(&item.title));
            }
        }
    }
    html.push_str("</ul>\n");
    let kinds: BTreeSet<Kind> = items.iter().map(|i| i.kind).collect();
    let stops: Vec<(&str, String)> = kinds
        .into_iter()
        .map(|k| (kind_label(k), unsubscribe_url(public_url, &token(k))))
        .collect();
    let _ = write!(text, "\n-- \n{WHY}\n");
    for (label, url) in &stops {
        let _ = writeln!(
            text,
            "Ne plus recevoir par courriel les notifications {label}\u{a0}:\n{url}"
        );
    }
    let _ = writeln!(text, "{SIGNATURE}");
    mail(to, DIGEST_SUBJECT, text, &html, &stops)
}

/// The mail: `html_body` (escaped already) in a complete document, with
/// the reason it was sent and the unsubscribe links at its foot.
fn mail(to: &str, subject: &str, text: String, html_body: &str, stops: &[(&str, String)]) -> Mail {
    let mut foot = String::new();
    for (label, url) in stops {
        let _ = writeln!(
            foot,
            "<br>\n<a href=\"{}\">Ne plus recevoir par courriel les notifications {}</a>",
            escape_html(url),
            escape_html(label)
        );
    }
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"fr\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width\">\n<title>{title}</title>\n\
         </head>\n<body style=\"font-family: sans-serif; line-height: 1.5; color: #222;\">\n\
         {html_body}<p style=\"font-size: 90%; color: #555;\">{why}{foot}</p>\n\
         <p style=\"font-size: 90%; color: #555;\">{signature}</p>\n</body>\n</html>\n",
        title = escape_html(subject),
        why = escape_html(WHY),
        signature = escape_html(SIGNATURE),
    );
    Mail {
        to: to.to_owned(),
        subject: subject.to_owned(),
        text,
        html,
        // A digest's kinds each have their link; the header takes the first.
        list_unsubscribe: stops.first().map(|(_, url)| url.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(kind: Kind, title: &str, link: &str) -> Item {
        Item {
            kind,
            title: title.into(),
            body: "Par <Atelier>.".into(),
            link: link.into(),
        }
    }

    #[test]
    fn a_single_email_links_its_page_and_its_unsubscribe_page() {
        let i = item(
            Kind::ClaimReserved,
            "Nouvelle réservation : R12",
            "/x?a=1&b=2",
        );
        let m = single("https://r.example", "a@b.example", &i, |k| {
            format!("tok-{}", k.as_str())
        });
        assert_eq!(m.subject, "Nouvelle réservation : R12");
        assert!(m.text.contains("Par <Atelier>."), "{}", m.text);
        assert!(m.text.contains("https://r.example/x?a=1&b=2\n"));
        assert!(
            m.text
                .contains("https://r.example/notifications/desabonnement?jeton=tok-claim_reserved")
        );
        assert!(m.html.contains("Par &lt;Atelier&gt;."));
        assert!(m.html.contains("href=\"https://r.example/x?a=1&amp;b=2\""));
        assert!(!m.html.contains("<Atelier>"));
        let no_link = single(
            "https://r.example",
            "a@b.example",
            &item(Kind::DeadLetter, "T", ""),
            |_| "t".into(),
        );
        assert!(!no_link.text.contains("Voir sur reemploi"));
    }

    #[test]
    fn a_digest_lists_every_title_and_each_kind_once() {
        let a = item(Kind::LotProposed, "Un lot : A", "/lots/a");
        let b = item(Kind::LotProposed, "Un lot : B", "");
        let c = item(Kind::NeedMatched, "Recherche : C", "/lots/c");
        let m = digest("https://r.example", "a@b.example", &[&a, &b, &c], |k| {
            format!("tok-{}", k.as_str())
        });
        for t in [
            "- Un lot : A\n  https://r.example/lots/a",
            "- Un lot : B",
            "- Recherche : C",
        ] {
            assert!(m.text.contains(t), "{t}: {}", m.text);
        }
        assert_eq!(m.text.matches("jeton=tok-lot_proposed").count(), 1);
        assert_eq!(m.text.matches("jeton=tok-need_matched").count(), 1);
        assert_eq!(m.html.matches("<li>").count(), 3);
    }
}
