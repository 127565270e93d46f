//! The mail the identity service sends: invitation and password-reset
//! links, in French. Sent after the change is committed, on a task of its
//! own, so that a slow relay never holds a call (nor tells, by its delay,
//! whether an email has an account). A mail that cannot be sent is logged;
//! the link can be made again.

use reemploi_mail::{Mail, Mailer, Sent};

use crate::model::Email;

/// Builds the links people follow and sends the mail.
#[derive(Clone, Debug)]
pub struct Letters {
    mailer: Mailer,
    public_url: String,
}

impl Letters {
    /// Letters sent with `mailer`, whose links lead to `public_url`.
    pub fn new(mailer: Mailer, public_url: &str) -> Letters {
        Letters {
            mailer,
            public_url: public_url.trim_end_matches('/').to_owned(),
        }
    }

    /// The link of an invitation's `code`.
    pub fn invitation_link(&self, code: &str) -> String {
        format!("{}/invitation?code={code}", self.public_url)
    }

    /// The link of a password reset's `code`.
    pub fn reset_link(&self, code: &str) -> String {
        format!("{}/mot-de-passe/nouveau?code={code}", self.public_url)
    }

    /// The invitation of `to`, with its code.
    pub fn invitation(&self, to: &Email, code: &str, role: &str) -> Mail {
        let intro = format!(
            "Bonjour,\n\nVous êtes invité·e à rejoindre reemploi, la plateforme du réemploi des \
             matériaux de construction, avec le rôle « {role} ».\n\nCe lien est valable 7 jours \
             et ne sert qu'une fois. En ligne de commande :\nreemploi accounts accept --code {code}"
        );
        Mail::with_link(
            to.as_str(),
            "Votre invitation sur reemploi",
            &intro,
            "Créer mon compte",
            &self.invitation_link(code),
        )
    }

    /// The password-reset mail of `to`, with its code.
    pub fn reset(&self, to: &Email, code: &str) -> Mail {
        let intro = format!(
            "Bonjour,\n\nUne réinitialisation du mot de passe de votre compte reemploi a été \
             demandée.\n\nCe lien est valable 30 minutes et ne sert qu'une fois. En ligne de \
             commande :\nreemploi password reset --code {code}"
        );
        Mail::with_link(
            to.as_str(),
            "Réinitialiser votre mot de passe reemploi",
            &intro,
            "Choisir un nouveau mot de passe",
            &self.reset_link(code),
        )
    }

    /// Sends `mail` on a task of its own; logs where it went, never its link.
    pub fn send(&self, mail: Mail) {
        let mailer = self.mailer.clone();
        tokio::spawn(async move {
            match mailer.send(&mail).await {
                Ok(Sent::Smtp { relay }) => tracing::info!(%relay, "mail sent"),
                Ok(Sent::File { path }) => {
                    tracing::info!(file = %path.display(), "no SMTP relay: mail written to a file")
                }
                Err(e) => tracing::error!(error = %e, subject = %mail.subject, "mail not sent"),
            }
        });
    }

    /// Sends `mail` and waits: for the first admin's invitation, whose file
    /// path is printed.
    pub async fn send_now(&self, mail: &Mail) -> Result<Sent, reemploi_mail::MailError> {
        self.mailer.send(mail).await
    }
}
