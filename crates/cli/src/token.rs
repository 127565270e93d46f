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
    let secret = match &args.jwt_secret {
        Some(secret) if !secret.is_empty() => secret.clone(),
        Some(_) => {
            return Err(reemploi_runtime::auth::AuthError::InvalidKey(
                "the JWT secret is empty".to_owned(),
            )
            .into());
        }
        None => crate::secret::load_or_create(&args.data_dir)?,
    };
    let ttl = Duration::from_secs(ttl_secs);
    let claims = claims_for(args.role, args.org.clone(), args.partner.clone(), ttl);
    Ok(issue_hs256(secret.as_bytes(), &claims)?)
}

/// Prints the token and a newline, nothing else, to stdout.
pub fn run(args: &TokenArgs) -> Result<(), CliError> {
    let token = issue(args)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{token}")
        .and_then(|()| out.flush())
        .map_err(CliError::Stdout)
}
