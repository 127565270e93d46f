//! `reemploi token`: a signed development token on stdout.

use std::io::Write;
use std::time::Duration;

use reemploi_runtime::auth::{claims_for, issue_hs256};

use crate::CliError;
use crate::cli::TokenArgs;

/// Seconds in an hour.
const HOUR_SECS: u64 = 3600;

/// Signs the token the flags describe with --jwt-secret, or else the data
/// directory's secret file (created if absent).
pub fn issue(args: &TokenArgs) -> Result<String, CliError> {
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
    let ttl = Duration::from_secs(args.ttl_hours.saturating_mul(HOUR_SECS));
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
