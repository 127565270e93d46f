//! What a mail says, and how it becomes an RFC 5322 message.

use std::fmt::Write as _;

use lettre::Message;
use lettre::message::header::{ContentTransferEncoding, ContentType, HeaderName, HeaderValue};
use lettre::message::{Body, Mailbox, MultiPart, SinglePart};

use crate::MailError;

/// One mail to one person: a subject and the same content twice, as plain
/// text and as HTML (clients show the HTML, or the text when they cannot).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    /// The recipient: `person@example.org` or `Name <person@example.org>`.
    pub to: String,
    /// The subject, any Unicode (encoded for the header when not ASCII).
    pub subject: String,
    /// The plain-text part.
    pub text: String,
    /// The HTML part, a complete document whose values are already escaped.
    pub html: String,
    /// Where the recipient stops mail of this sort (an absolute URL the
    /// service made itself), given to mail clients as `List-Unsubscribe`
    /// (RFC 2369), which they show as a button.
    pub list_unsubscribe: Option<String>,
}

impl Mail {
    /// The usual French mail of a service: `intro` (plain text; a blank line
    /// starts a new paragraph), then a link labelled `link_label` to `url`,
    /// then a line saying the mail may be ignored if it was not expected.
    ///
    /// Every value is escaped in the HTML part. `url` must be an absolute
    /// `https://` (or `http://`) URL the service made itself: escaping keeps
    /// it inside its attribute but does not judge where it leads.
    pub fn with_link(
        to: impl Into<String>,
        subject: impl Into<String>,
        intro: &str,
        link_label: &str,
        url: &str,
    ) -> Mail {
        let subject = subject.into();
        // One line ending throughout, so paragraphs split the same way
        // whatever the caller wrote.
        let intro = intro.replace("\r\n", "\n");
        let intro = intro.trim();

        // The URL stands alone on its line: terminals and mail clients then
        // make it clickable whole. U+00A0 before the colon: French
        // typography, and the colon never wraps to a line of its own.
        let text =
            format!("{intro}\n\n{link_label}\u{a0}:\n{url}\n\n{IGNORE}\n\n-- \n{SIGNATURE}\n");

        let mut paragraphs = String::new();
        for paragraph in intro.split("\n\n").map(str::trim).filter(|p| !p.is_empty()) {
            let lines: Vec<String> = paragraph.lines().map(escape_html).collect();
            let _ = writeln!(paragraphs, "<p>{}</p>", lines.join("<br>\n"));
        }
        let url_html = escape_html(url);
        let html = format!(
            "<!DOCTYPE html>\n\
             <html lang=\"fr\">\n\
             <head>\n\
             <meta charset=\"utf-8\">\n\
             <meta name=\"viewport\" content=\"width=device-width\">\n\
             <title>{title}</title>\n\
             </head>\n\
             <body style=\"font-family: sans-serif; line-height: 1.5; color: #222;\">\n\
             {paragraphs}\
             <p><a href=\"{url_html}\" style=\"display: inline-block; padding: 0.6em 1.2em; \
             background: #1d6b45; color: #fff; text-decoration: none; border-radius: 4px;\">\
             {label}</a></p>\n\
             <p style=\"font-size: 90%; color: #555;\">Si le bouton ne fonctionne pas, \
             copiez cette adresse dans votre navigateur&nbsp;:<br>\n\
             <a href=\"{url_html}\">{url_html}</a></p>\n\
             <p style=\"font-size: 90%; color: #555;\">{ignore}</p>\n\
             <p style=\"font-size: 90%; color: #555;\">{signature}</p>\n\
             </body>\n\
             </html>\n",
            title = escape_html(&subject),
            label = escape_html(link_label),
            ignore = escape_html(IGNORE),
            signature = escape_html(SIGNATURE),
        );

        Mail {
            to: to.into(),
            subject,
            text,
            html,
            list_unsubscribe: None,
        }
    }

    /// The complete message from `from`, with a fresh Message-ID on
    /// `from`'s domain. `readable` writes both parts as 8-bit UTF-8 when
    /// they allow it, for files a person reads (a quoted-printable link is
    /// cut by soft line breaks and its `=` turned into `=3D`); otherwise
    /// lettre picks 7-bit, quoted-printable or base64, which every relay
    /// accepts.
    pub(crate) fn message(&self, from: &Mailbox, readable: bool) -> Result<Message, MailError> {
        let to: Mailbox = self
            .to
            .parse()
            .map_err(|e: lettre::address::AddressError| MailError::Recipient {
                address: self.to.clone(),
                reason: e.to_string(),
            })?;
        let message_id = format!(
            "<{}@{}>",
            uuid::Uuid::now_v7().simple(),
            from.email.domain()
        );
        let alternative = MultiPart::alternative()
            .singlepart(part(ContentType::TEXT_PLAIN, &self.text, readable))
            .singlepart(part(ContentType::TEXT_HTML, &self.html, readable));
        let mut builder = Message::builder();
        if let Some(url) = &self.list_unsubscribe {
            builder = builder.raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("List-Unsubscribe"),
                format!("<{url}>"),
            ));
        }
        builder
            .from(from.clone())
            .to(to)
            .subject(self.subject.as_str())
            .date_now()
            .message_id(Some(message_id))
            // RFC 3834: an automatic mail, so vacation responders and the
            // like do not answer it.
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("Auto-Submitted"),
                "auto-generated".to_owned(),
            ))
            .multipart(alternative)
            .map_err(MailError::Build)
    }
}

/// One part of the alternative; `readable` as for [`Mail::message`].
fn part(content_type: ContentType, body: &str, readable: bool) -> SinglePart {
    let body = readable
        .then(|| eight_bit(body))
        .flatten()
        .unwrap_or_else(|| Body::new(body.to_owned()));
    SinglePart::builder().header(content_type).body(body)
}

/// `body` as an 8-bit part, if it can be one: CRLF line endings, no line
/// over 998 bytes, no NUL nor lone CR (RFC 2045). lettre's own choice
/// also refuses lines of 76 bytes or more, which a link often is.
fn eight_bit(body: &str) -> Option<Body> {
    let crlf = body.replace("\r\n", "\n").replace('\n', "\r\n");
    let fits = !crlf.contains('\0')
        && crlf
            .split("\r\n")
            .all(|line| line.len() <= 998 && !line.contains('\r'));
    fits.then(|| Body::dangerous_pre_encoded(crlf.into_bytes(), ContentTransferEncoding::EightBit))
}

/// Said at the end of every [`Mail::with_link`].
const IGNORE: &str = "Si vous n'attendiez pas ce message, vous pouvez l'ignorer\u{a0}: \
                      rien ne sera fait sans vous. Ce message est envoyé automatiquement, \
                      merci de ne pas y répondre.";

/// The signature of every [`Mail::with_link`].
const SIGNATURE: &str = "reemploi — le réemploi des matériaux de chantier";

/// `value` made safe as HTML text or as a quoted attribute value: `&`, `<`,
/// `>`, `"` and `'` become character references.
pub fn escape_html(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_the_five_characters() {
        assert_eq!(
            escape_html(r#"<a href="x">l'été & co</a>"#),
            "&lt;a href=&quot;x&quot;&gt;l&#39;été &amp; co&lt;/a&gt;"
        );
    }

    #[test]
    fn link_mail_escapes_every_value() {
        let mail = Mail::with_link(
            "a@example.org",
            "<b>Sujet</b>",
            "Bonjour <script>,\n\nDeuxième & dernier",
            "Ouvrir \"ici\"",
            "https://example.org/x?a=1&b=<2>",
        );
        assert!(
            mail.html
                .contains("<title>&lt;b&gt;Sujet&lt;/b&gt;</title>")
        );
        assert!(mail.html.contains("<p>Bonjour &lt;script&gt;,</p>"));
        assert!(mail.html.contains("<p>Deuxième &amp; dernier</p>"));
        assert!(
            mail.html
                .contains("href=\"https://example.org/x?a=1&amp;b=&lt;2&gt;\"")
        );
        assert!(mail.html.contains(">Ouvrir &quot;ici&quot;</a>"));
        assert!(!mail.html.contains("<script>"));
        assert!(
            mail.text
                .contains("Ouvrir \"ici\"\u{a0}:\nhttps://example.org/x?a=1&b=<2>\n")
        );
    }

    #[test]
    fn list_unsubscribe_only_when_given() {
        let from: Mailbox = "r <no-reply@r.example>".parse().expect("mailbox");
        let mut mail = Mail::with_link("a@example.org", "S", "Bonjour", "Ouvrir", "https://x");
        let headers = |m: &Mail| {
            let raw = m.message(&from, false).expect("message").formatted();
            String::from_utf8(raw).expect("utf-8")
        };
        assert!(!headers(&mail).contains("List-Unsubscribe"));
        mail.list_unsubscribe = Some("https://r.example/stop?jeton=a.b".into());
        assert!(
            headers(&mail).contains("List-Unsubscribe: <https://r.example/stop?jeton=a.b>\r\n")
        );
    }

    #[test]
    fn eight_bit_only_when_rfc_2045_allows() {
        let body = eight_bit("é\nligne\r\nfin").expect("fits");
        assert_eq!(body.as_ref(), "é\r\nligne\r\nfin".as_bytes());
        assert!(eight_bit(&"x".repeat(998)).is_some());
        assert!(eight_bit(&"x".repeat(999)).is_none());
        assert!(eight_bit("a\rb").is_none());
        assert!(eight_bit("a\0b").is_none());
    }
}
