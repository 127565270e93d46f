//! `reemploi login`: checks an address and token against the server, then
//! stores them in the configuration file (mode 0600) for later commands.

use std::io::{BufRead, IsTerminal};

use clap::Args;
use reemploi_proto::inventory as pb;
use serde_json::json;

use super::Ctx;
use crate::CliError;
use crate::client::{Connection, display_addr};
use crate::config::{self, FileConfig, Settings};
use crate::output::emit;

/// Flags of `login` (the address and token are the global --addr and
/// --token).
#[derive(Args, Debug)]
pub struct LoginArgs {
    /// Stores them without asking the server whether they work.
    #[arg(long)]
    pub no_verify: bool,
}

/// Runs `login`. Without --token (or REEMPLOI_TOKEN) the token is read
/// from stdin, so that it stays out of the shell history.
pub async fn run(
    ctx: &Ctx,
    addr: Option<String>,
    token: Option<String>,
    a: LoginArgs,
) -> Result<(), CliError> {
    let Some(path) = config::path() else {
        return Err(CliError::Usage(
            "no configuration directory: set HOME, XDG_CONFIG_HOME or REEMPLOI_CONFIG".to_owned(),
        ));
    };
    let previous = config::load(&path)?;
    let token = match token.filter(|t| !t.trim().is_empty()) {
        Some(t) => t.trim().to_owned(),
        None => read_token()?,
    };
    let addr = addr
        .filter(|a| !a.trim().is_empty())
        .or(previous.addr)
        .unwrap_or_else(|| config::DEFAULT_ADDR.to_owned());
    let settings = Settings {
        addr: addr.clone(),
        token: Some(token.clone()),
        tls: ctx.settings.tls.clone(),
    };
    if !a.no_verify {
        // Any authenticated caller may list sites: a cheap proof that the
        // server is there and accepts the token.
        let conn = Connection::open(&settings).await?;
        conn.inventory()
            .list_sites(pb::ListSitesRequest {
                page_size: 1,
                ..Default::default()
            })
            .await
            .map_err(|s| CliError::from_status(&s))?;
    }
    config::save(
        &path,
        &FileConfig {
            addr: Some(addr.clone()),
            token: Some(token),
        },
    )?;
    let shown = display_addr(&addr);
    emit(
        ctx.format,
        json!({"addr": shown, "config": path.display().to_string(), "verified": !a.no_verify}),
        || {
            format!(
                "logged in to {shown}{}; settings stored in {} (mode 0600)\n",
                if a.no_verify { " (not verified)" } else { "" },
                path.display()
            )
        },
    )
}

/// One line of stdin, the token; refused on a terminal with nothing typed.
fn read_token() -> Result<String, CliError> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprintln!("paste the token, then press Enter:");
    }
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .map_err(|e| CliError::Usage(format!("reading the token from stdin: {e}")))?;
    let token = line.trim().to_owned();
    if token.is_empty() {
        return Err(CliError::Usage(
            "no token: pass --token TOKEN, set REEMPLOI_TOKEN, or pipe it in \
             (`reemploi token --role admin | reemploi login`)"
                .to_owned(),
        ));
    }
    Ok(token)
}
