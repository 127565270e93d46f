//! Why a `reemploi` command failed, and the exit code each failure gives.
//!
//! Exit codes (stable, for scripts): 0 success, 1 other failures (server
//! errors such as a refused state change, local I/O), 2 usage error (clap's
//! own code), 3 not found, 4 unauthenticated or permission denied, 5 server
//! unreachable, 6 invalid argument (from the server) or bad input file.

use std::path::PathBuf;
use std::process::ExitCode;

use tonic::Code;

/// Exit code of a usage error (clap exits with it too).
pub const EXIT_USAGE: u8 = 2;
/// Exit code when the thing named does not exist.
pub const EXIT_NOT_FOUND: u8 = 3;
/// Exit code when the token is missing, invalid or not allowed to do it.
pub const EXIT_DENIED: u8 = 4;
/// Exit code when the server cannot be reached.
pub const EXIT_UNREACHABLE: u8 = 5;
/// Exit code for invalid input: refused by the server, or a bad file.
pub const EXIT_INVALID: u8 = 6;
/// Exit code of every other failure.
pub const EXIT_OTHER: u8 = 1;

/// Everything a `reemploi` command can fail with. Messages never carry a
/// secret or a connection string.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The JWT secret file could not be read or created.
    #[error("JWT secret file {path}: {source}")]
    SecretFile {
        /// The secret file.
        path: PathBuf,
        /// The I/O failure.
        #[source]
        source: std::io::Error,
    },
    /// The authentication flags are unusable.
    #[error("authentication: {0}")]
    Auth(#[from] reemploi_runtime::auth::AuthError),
    /// The database could not be reached.
    #[error("database: {0}")]
    Store(#[from] reemploi_store::StoreError),
    /// The event bus could not be reached.
    #[error("event bus: {0}")]
    Bus(#[from] reemploi_events::BusError),
    /// A service could not start.
    #[error("{0}")]
    Start(#[from] reemploi_runtime::service::StartError),
    /// Serving stopped with an error (a background task died...).
    #[error("{0}")]
    Serve(#[from] reemploi_runtime::service::ServeError),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: std::net::SocketAddr,
        /// The failure.
        #[source]
        source: std::io::Error,
    },
    /// The server failed.
    #[error("server: {0}")]
    Server(#[from] reemploi_runtime::server::ServerError),
    /// The demo data set could not be loaded.
    #[error("demo: {0}")]
    Demo(String),
    /// The web app could not be set up (its cookie key, the API address).
    #[error("web app: {0}")]
    Web(#[from] reemploi_web::SetupError),
    /// Writing to stdout failed.
    #[error("stdout: {0}")]
    Stdout(#[source] std::io::Error),
    /// The command line is well-formed for clap but unusable (a bad address,
    /// a quantity that does not parse...).
    #[error("{0}")]
    Usage(String),
    /// The configuration file could not be read or written.
    #[error("configuration file {path}: {reason}")]
    Config {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// A file to import or write is unusable.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Rows of an import file are invalid; each was already reported with
    /// its line.
    #[error("{0}")]
    BadRows(String),
    /// Nothing answers at the server address.
    #[error(
        "cannot reach the reemploi server at {addr} ({reason}): is `reemploi up` running there? \
         Set the address with --addr, REEMPLOI_ADDR or `reemploi login --addr`"
    )]
    Unreachable {
        /// The address, without any credentials it may carry.
        addr: String,
        /// The transport failure.
        reason: String,
    },
    /// The connection broke during a call, before the server could answer:
    /// most often a TLS handshake the server refused.
    #[error(
        "the connection to the server failed ({0}): with TLS, check --ca (the CA of the \
         server's certificate) and, for a server that requires client certificates, \
         --client-cert and --client-key; an https:// server cannot be reached with http://"
    )]
    Connection(String),
    /// The stored session is over (logged out, expired, revoked): the
    /// message says whom to sign in as again.
    #[error("{0}")]
    SignInAgain(String),
    /// A local failure met in the middle of a call (the configuration file
    /// could not be read or written while renewing the session).
    #[error("{0}")]
    Local(String),
    /// The password typed twice differs, or none was given.
    #[error("{0}")]
    Password(String),
    /// The server answered with an error.
    #[error("{}", rpc_message(.code, .message, .violations, .reason.as_deref()))]
    Rpc {
        /// The gRPC status code.
        code: Code,
        /// The server's message.
        message: String,
        /// `(field, description)` pairs of a `BadRequest` detail.
        violations: Vec<(String, String)>,
        /// The `ErrorInfo` reason, which picks the hint.
        reason: Option<String>,
    },
}

impl CliError {
    /// The error a gRPC status stands for, keeping its field violations. A
    /// status the client made of a broken connection (it has the transport
    /// error as its source; one the server sent has none) is a
    /// [`CliError::Connection`] with the innermost cause: the server never
    /// answered. A call that ran out of time stays a status.
    pub fn from_status(status: &tonic::Status) -> Self {
        if let Some(source) = std::error::Error::source(status) {
            let mut cause = source;
            let mut timed_out = false;
            loop {
                timed_out |= cause.is::<tonic::TimeoutExpired>();
                match cause.source() {
                    Some(next) => cause = next,
                    None => break,
                }
            }
            if !timed_out {
                return CliError::Connection(cause.to_string());
            }
        }
        let reason = reemploi_runtime::status::reason(status);
        match reason.as_deref() {
            // Made by this client (see `crate::session`), not the server.
            Some(crate::session::REASON_SIGN_IN_AGAIN) => {
                return CliError::SignInAgain(status.message().to_owned());
            }
            Some(crate::session::REASON_LOCAL) => {
                return CliError::Local(status.message().to_owned());
            }
            _ => {}
        }
        CliError::Rpc {
            code: status.code(),
            message: status.message().to_owned(),
            violations: reemploi_runtime::status::field_violations(status),
            reason,
        }
    }

    /// The process exit code of this failure. One match, no catch-all: a
    /// new variant (or gRPC code) must be given its code here.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::SecretFile { .. }
            | CliError::Auth(_)
            | CliError::Store(_)
            | CliError::Bus(_)
            | CliError::Start(_)
            | CliError::Serve(_)
            | CliError::Bind { .. }
            | CliError::Server(_)
            | CliError::Demo(_)
            | CliError::Web(_)
            | CliError::Stdout(_)
            | CliError::Config { .. }
            | CliError::Local(_) => EXIT_OTHER,
            CliError::Usage(_) | CliError::Password(_) => EXIT_USAGE,
            CliError::SignInAgain(_) => EXIT_DENIED,
            CliError::File { .. } | CliError::BadRows(_) => EXIT_INVALID,
            CliError::Unreachable { .. } | CliError::Connection(_) => EXIT_UNREACHABLE,
            // Asking for more than a lot holds is bad input, whatever the
            // code the server's ledger refuses it with.
            CliError::Rpc {
                reason: Some(reason),
                ..
            } if reason == "INSUFFICIENT_QUANTITY" => EXIT_INVALID,
            CliError::Rpc { code, .. } => match code {
                Code::NotFound => EXIT_NOT_FOUND,
                Code::Unauthenticated | Code::PermissionDenied => EXIT_DENIED,
                // tonic reports a connection that drops or cannot be made
                // as UNAVAILABLE.
                Code::Unavailable => EXIT_UNREACHABLE,
                Code::InvalidArgument | Code::OutOfRange => EXIT_INVALID,
                Code::Ok
                | Code::Cancelled
                | Code::Unknown
                | Code::DeadlineExceeded
                | Code::AlreadyExists
                | Code::ResourceExhausted
                | Code::FailedPrecondition
                | Code::Aborted
                | Code::Unimplemented
                | Code::Internal
                | Code::DataLoss => EXIT_OTHER,
            },
        }
    }

    /// [`CliError::exit_code`] as a process exit code.
    pub fn exit(&self) -> ExitCode {
        ExitCode::from(self.exit_code())
    }
}

/// The message of a server error, with every field violation on its own
/// line and a hint of what to do next.
fn rpc_message(
    code: &Code,
    message: &str,
    violations: &[(String, String)],
    reason: Option<&str>,
) -> String {
    let mut text = format!("the server refused: {message}");
    for (field, description) in violations {
        text.push_str(&format!("\n  {field}: {description}"));
    }
    let hint = reason
        .and_then(reason_hint)
        .unwrap_or_else(|| code_hint(code));
    text.push_str(&format!("\n  hint: {hint}"));
    text
}

/// The hint for the identity service's reasons that need their own.
fn reason_hint(reason: &str) -> Option<&'static str> {
    Some(match reason {
        "SIGN_IN_FAILED" => {
            "check the email and the password; `reemploi password forgot --email EMAIL` \
             mails a link to choose a new password"
        }
        "SESSION_ENDED" | "REFRESH_TOKEN_REUSED" => "sign in again: `reemploi login --email EMAIL`",
        "TOKEN_EXPIRED" => {
            "the token has expired: sign in with `reemploi login --email EMAIL`, or get a new \
             token (an API token from an admin, `reemploi token` on a development server)"
        }
        "TOKEN_REVOKED" => {
            "this token no longer works (signed out, account disabled, or API token \
             revoked): sign in again or ask an admin"
        }
        "LINK_INVALID" => {
            "ask for a new link: an admin's new invitation (`reemploi accounts invite`), or \
             `reemploi password forgot --email EMAIL`"
        }
        "EMAIL_TAKEN" => {
            "sign in with that email (`reemploi login --email EMAIL`), or \
             `reemploi password forgot --email EMAIL` if the password is lost"
        }
        "INSUFFICIENT_QUANTITY" => {
            "ask for at most what is available: `reemploi lots show LOT` shows its ledger"
        }
        "CLAIM_NOT_CONFIRMED" => {
            "confirm it first with `reemploi claims confirm CLAIM`, then record the hand-over"
        }
        "PARTNER_NOT_ELIGIBLE" => {
            "`reemploi partners show PARTNER` shows its status; an admin verifies or \
             reinstates it (`reemploi partners verify|reinstate PARTNER`)"
        }
        _ => return None,
    })
}

/// The hint for a status code.
fn code_hint(code: &Code) -> &'static str {
    match code {
        Code::Unauthenticated => {
            "no valid token: sign in with `reemploi login --email EMAIL`, or give a token \
             with `reemploi login --token TOKEN` or REEMPLOI_TOKEN (on a development server: \
             `reemploi token --role admin`)"
        }
        Code::PermissionDenied => {
            "your token's role or organisation may not do this: use a token that may \
             (an admin's, the site's manager, or the partner itself)"
        }
        Code::NotFound => {
            "check the name: `reemploi sites list`, `reemploi lots list`, \
             `reemploi partners list` or `reemploi claims list` show what exists"
        }
        Code::Aborted => "someone changed it meanwhile: look at it again and retry",
        Code::AlreadyExists => "it exists already: list or show it instead",
        Code::FailedPrecondition => {
            "its current state does not allow this: `show` it to see its status"
        }
        Code::InvalidArgument | Code::OutOfRange => "fix the values above and retry",
        Code::Unavailable | Code::DeadlineExceeded => {
            "the server is unavailable or slow: is `reemploi up` running? retry shortly"
        }
        Code::ResourceExhausted => {
            "too many requests for the server's rate limit: wait a moment and retry"
        }
        Code::Ok
        | Code::Cancelled
        | Code::Unknown
        | Code::Unimplemented
        | Code::Internal
        | Code::DataLoss => "the server failed; its logs say why",
    }
}
