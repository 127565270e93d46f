//! The one error of this crate. No message ever holds the SMTP URL (it may
//! carry a password) nor a mail's body (it may carry a sign-in link).

use std::path::PathBuf;

/// Why a mailer could not be built or a mail not sent.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// `--smtp-url` is malformed or asks for something unsupported; the
    /// message names the problem, never the URL.
    #[error("invalid --smtp-url: {0}")]
    SmtpUrl(String),

    /// `--smtp-ca-file` could not be read or holds no usable certificate.
    #[error("cannot use --smtp-ca-file {path}: {reason}")]
    CaFile {
        /// The file given.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },

    /// `--mail-from` is no valid mailbox.
    #[error("invalid --mail-from {value:?}: {reason}")]
    From {
        /// The value given.
        value: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A mail's recipient is no valid address.
    #[error("invalid recipient address {address:?}: {reason}")]
    Recipient {
        /// The address given.
        address: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The message could not be assembled.
    #[error("cannot build the mail: {0}")]
    Build(#[source] lettre::error::Error),

    /// The SMTP relay could not be reached, refused the connection's
    /// security, the credentials or the mail.
    #[error("cannot send mail through {relay}: {source}")]
    Smtp {
        /// The relay, as `host:port`.
        relay: String,
        /// What lettre reported (the relay's reply, never the password).
        #[source]
        source: lettre::transport::smtp::Error,
    },

    /// The mail directory or an `.eml` file could not be written.
    #[error("cannot write mail to {path}: {source}")]
    Write {
        /// The directory or file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}
