//! The mail flags, flattened into each binary's clap parser like the blocks
//! of `reemploi_runtime::config`. The SMTP URL may carry a password: its
//! environment value is hidden from `--help` and it is redacted from `Debug`.

use std::fmt;
use std::path::PathBuf;

/// Sender used when `--mail-from` is not given: `.invalid` is reserved
/// (RFC 2606), so a relay refuses it rather than forge someone's domain.
pub const DEFAULT_MAIL_FROM: &str = "reemploi <no-reply@reemploi.invalid>";

/// Mail: where the services' mail goes.
#[derive(clap::Args, Clone, PartialEq, Eq)]
// `about = None`: without it clap would show this struct's doc comment
// as the description of whatever binary flattens it.
#[command(next_help_heading = "Mail", about = None, long_about = None)]
pub struct MailArgs {
    /// SMTP relay that sends the mail: smtp://user:pass@host:587 (STARTTLS,
    /// required), smtps://user:pass@host:465 (TLS), or
    /// smtp://host:25?tls=none (plaintext, for a local relay; credentials
    /// are then only sent to a loopback address). User and password are
    /// percent-encoded. When absent, each mail is written as an .eml file
    /// in the data directory's mail/ folder and its path logged. The URL
    /// itself is never logged.
    #[arg(long = "smtp-url", env = "REEMPLOI_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,

    /// PEM file with CA certificate(s) trusted for the SMTP relay besides
    /// the system's (a relay with a private CA).
    #[arg(
        long = "smtp-ca-file",
        env = "REEMPLOI_SMTP_CA_FILE",
        value_name = "FILE",
        requires = "smtp_url"
    )]
    pub smtp_ca_file: Option<PathBuf>,

    /// Sender of the mail (From), e.g. "reemploi <no-reply@example.org>".
    #[arg(long = "mail-from", env = "REEMPLOI_MAIL_FROM", default_value = DEFAULT_MAIL_FROM)]
    pub mail_from: String,
}

impl Default for MailArgs {
    fn default() -> Self {
        MailArgs {
            smtp_url: None,
            smtp_ca_file: None,
            mail_from: DEFAULT_MAIL_FROM.to_owned(),
        }
    }
}

impl fmt::Debug for MailArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MailArgs")
            .field("smtp_url", &self.smtp_url.as_ref().map(|_| "<redacted>"))
            .field("smtp_ca_file", &self.smtp_ca_file)
            .field("mail_from", &self.mail_from)
            .finish()
    }
}
