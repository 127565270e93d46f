//! `reemploi token`: a signed development token on stdout.

use std::io::Write;
use std::time::Duration;

use reemploi_runtime::auth::{claims_for, issue_hs256};

use crate::CliError;
use crate::cli::TokenArgs;

/// Seconds in an hour.
const HOUR_SECS: u64 = 3600;

/// Signs the token the flags describe with --jwt-secret, or else the data
/// directory's secret file (created if absent). A lifetime longer than
/// --jwt-max-lifetime-secs is a usage error: servers would refuse it.
pub fn issue(args: &TokenArgs) -> Result<String, CliError> {
    issue_saying(args).map(|(token, _)| token)
}

/// [`issue`], and which secret signed: the file's path or `--jwt-secret`
/// (never the secret itself), so that a token a server refuses can be told
/// apart from one signed with another server's secret.
pub fn issue_saying(args: &TokenArgs) -> Result<(String, String), CliError> {
    let ttl_secs = args.ttl_hours.saturating_mul(HOUR_SECS);
    if ttl_secs > args.jwt_max_lifetime_secs {
        return Err(CliError::Usage(format!(
            "--ttl-hours {} is longer than servers accept (--jwt-max-lifetime-secs {} s): \
             ask for at most {} hours, or raise the limit on the servers and here alike",
            args.ttl_hours,
            args.jwt_max_lifetime_secs,
            args.jwt_max_lifetime_secs / HOUR_SECS
        )));
    }
    let (secret, source) = match &args.jwt_secret {
        Some(secret) if !secret.is_empty() => (
            secret.clone(),
            "--jwt-secret (or REEMPLOI_JWT_SECRET)".to_owned(),
        ),
        Some(_) => {
            return Err(reemploi_runtime::auth::AuthError::InvalidKey(
                "the JWT secret is empty".to_owned(),
            )
            .into());
        }
        None => (
            crate::secret::load_or_create(&args.data_dir)?,
            format!(
                "the secret in {}",
                crate::secret::secret_path(&args.data_dir).display()
            ),
        ),
    };
    let ttl = Duration::from_secs(ttl_secs);
    let claims = claims_for(args.role, args.org.clone(), args.partner.clone(), ttl);
    Ok((issue_hs256(secret.as_bytes(), &claims)?, source))
}

/// Prints the token and a newline, nothing else, to stdout; which secret
/// signed it goes to stderr.
pub fn run(args: &TokenArgs) -> Result<(), CliError> {
    let (token, source) = issue_saying(args)?;
    eprintln!(
        "{} token for {} hour(s), signed with {source}",
        args.role, args.ttl_hours
    );
    let mut out = std::io::stdout().lock();
    writeln!(out, "{token}")
        .and_then(|()| out.flush())
        .map_err(CliError::Stdout)
}
