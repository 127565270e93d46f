//! Mail for every reemploi service that sends some (sign-in links, password
//! resets, invitations): one [`Mailer`] built from the `--smtp-url` and
//! `--mail-from` flags ([`MailArgs`]).
//!
//! With `--smtp-url`, mail goes to that SMTP relay: STARTTLS (`smtp://`,
//! required, never downgraded), TLS from the first byte (`smtps://`), or
//! plaintext to a local relay (`smtp://host:25?tls=none`), with
//! authentication when the URL carries a user and password. Without it,
//! each message is written as a complete `.eml` file under
//! `<data-dir>/mail/` and its path logged, so a person trying reemploi on
//! their own machine (`reemploi up`) can open the mail and follow its link
//! without any mail server.
//!
//! Messages are `multipart/alternative` (plain text and HTML, UTF-8);
//! [`Mail::with_link`] renders the usual one: a few French sentences and a
//! link. Neither the SMTP password nor a message's body is ever logged or
//! put in an error: the bodies carry sign-in links, which are secrets.
#![forbid(unsafe_code)]

mod config;
mod error;
mod mailer;
mod message;

pub use config::{DEFAULT_MAIL_FROM, MailArgs};
pub use error::MailError;
pub use mailer::{MAIL_DIR, Mailer, Sent};
pub use message::{Mail, escape_html};
