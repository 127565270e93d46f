//! `reemploi login`, `logout` and `signup`: signing in with an email and a
//! password (or storing a token from elsewhere), signing out, and creating
//! an ESS structure's account. What they store goes in the configuration
//! file (mode 0600): the address, the access and refresh tokens, the email;
//! never the password.

use std::io::{BufRead, IsTerminal};
use std::path::{Path, PathBuf};

use clap::Args;
use reemploi_proto::identity as ipb;
use reemploi_proto::inventory as pb;
use serde_json::json;

use super::Ctx;
use crate::CliError;
use crate::client::{Connection, answer, display_addr};
use crate::config::{self, FileConfig, Settings};
use crate::output::{emit, note};
use crate::{prompt, session, views};

/// Flags of `login` (the address and a token are the global --addr and
/// --token).
#[derive(Args, Debug)]
pub struct LoginArgs {
    /// Signs in as this account: the password is asked for on the terminal
    /// (or read from stdin when it is not one).
    #[arg(long, value_name = "EMAIL")]
    pub email: Option<String>,
    /// With a token: stores it without asking the server whether it works.
    #[arg(long, conflicts_with = "email")]
    pub no_verify: bool,
}

/// Flags of `signup`.
#[derive(Args, Debug)]
pub struct SignupArgs {
    /// Your email: the account's, to sign in with.
    #[arg(long, value_name = "EMAIL")]
    pub email: String,
    /// The structure's name, e.g. "Atelier Réemploi Coteaux".
    #[arg(long, value_name = "NAME")]
    pub structure: String,
    /// Your name, as others will see it [default: asked on the terminal].
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
}

/// The configuration file's path, or why there is none.
fn config_path() -> Result<PathBuf, CliError> {
    config::path().ok_or_else(|| {
        CliError::Usage(
            "no configuration directory: set HOME, XDG_CONFIG_HOME or REEMPLOI_CONFIG".to_owned(),
        )
    })
}

/// The address to use: the flag's, else the file's, else the default.
fn address(flag: Option<String>, file: &FileConfig) -> String {
    flag.filter(|a| !a.trim().is_empty())
        .or_else(|| file.addr.clone())
        .unwrap_or_else(|| config::DEFAULT_ADDR.to_owned())
}

/// Runs `login`: with --email, signs in; otherwise stores the token given
/// (--token, REEMPLOI_TOKEN or stdin).
pub async fn run(
    ctx: &Ctx,
    addr: Option<String>,
    token: Option<String>,
    a: LoginArgs,
) -> Result<(), CliError> {
    let path = config_path()?;
    let addr = address(addr, &config::load(&path)?);
    match a.email {
        Some(email) => {
            if token.is_some() {
                note(
                    "note: --token (or REEMPLOI_TOKEN) is set: it is not stored, and as long as \
                     it is set later commands send it instead of this session",
                );
            }
            sign_in(ctx, &path, addr, email).await
        }
        None => store_token(ctx, &path, addr, token, a.no_verify).await,
    }
}

/// `login --email`: SignIn with the password typed, then the session stored.
async fn sign_in(ctx: &Ctx, path: &Path, addr: String, email: String) -> Result<(), CliError> {
    let password = prompt::password()?;
    let conn = anonymous(ctx, &addr).await?;
    let session = answer(
        conn.identity()
            .sign_in(ipb::SignInRequest {
                email: email.trim().to_owned(),
                password,
            })
            .await,
    )?;
    save_session(&conn, path, &addr, &session).await?;
    let account = session.account.unwrap_or_default();
    let shown = display_addr(&addr);
    emit(
        ctx.format,
        json!({"addr": shown, "config": path.display().to_string(),
               "account": crate::json::message(&account)}),
        || {
            format!(
                "logged in to {shown} as {} ({}); session stored in {} (mode 0600)\n",
                account.email,
                views::account_role(&account),
                path.display()
            )
        },
    )
}

/// A connection to `addr` without credentials.
async fn anonymous(ctx: &Ctx, addr: &str) -> Result<Connection, CliError> {
    Connection::open(&Settings {
        addr: addr.to_owned(),
        ..ctx.settings.anonymous()
    })
    .await
}

/// Stores `session` for `addr` in the file, in place of any credentials
/// there; a session it replaces on the same server is ended there (best
/// effort), so that its refresh token stops working.
async fn save_session(
    conn: &Connection,
    path: &Path,
    addr: &str,
    session: &ipb::Session,
) -> Result<(), CliError> {
    let lock = config::lock_async(path).await?;
    let mut file = config::load(path)?;
    let replaced = file
        .session(path)
        .filter(|_| file.addr.as_deref() == Some(addr))
        .map(|s| s.refresh);
    file.forget_credentials();
    file.addr = Some(addr.to_owned());
    session::store(&mut file, session);
    config::save(path, &file)?;
    drop(lock);
    if let Some(refresh_token) = replaced
        && let Err(e) = conn
            .identity()
            .sign_out(ipb::SignOutRequest { refresh_token })
            .await
    {
        tracing::debug!(error = %e, "the replaced session was not ended");
    }
    Ok(())
}

/// `login --token`: checks an address and token, then stores them.
async fn store_token(
    ctx: &Ctx,
    path: &Path,
    addr: String,
    token: Option<String>,
    no_verify: bool,
) -> Result<(), CliError> {
    let token = match token.filter(|t| !t.trim().is_empty()) {
        Some(t) => t.trim().to_owned(),
        None => read_token()?,
    };
    let settings = Settings {
        addr: addr.clone(),
        token: Some(token.clone()),
        session: None,
        tls: ctx.settings.tls.clone(),
    };
    if !no_verify {
        // Any authenticated caller may list sites: a cheap proof that the
        // server is there and accepts the token.
        let conn = Connection::open(&settings).await?;
        answer(
            conn.inventory()
                .list_sites(pb::ListSitesRequest {
                    page_size: 1,
                    ..Default::default()
                })
                .await,
        )?;
    }
    config::update(path, |file| {
        file.forget_credentials();
        file.addr = Some(addr.clone());
        file.token = Some(token);
    })
    .await?;
    let shown = display_addr(&addr);
    emit(
        ctx.format,
        json!({"addr": shown, "config": path.display().to_string(), "verified": !no_verify}),
        || {
            format!(
                "logged in to {shown}{}; settings stored in {} (mode 0600)\n",
                if no_verify { " (not verified)" } else { "" },
                path.display()
            )
        },
    )
}

/// One line of stdin, the token; refused on a terminal with nothing typed.
fn read_token() -> Result<String, CliError> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprintln!(
            "paste the token, then press Enter (to sign in with a password: \
             reemploi login --email EMAIL):"
        );
    }
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .map_err(|e| CliError::Usage(format!("reading the token from stdin: {e}")))?;
    let token = line.trim().to_owned();
    if token.is_empty() {
        return Err(CliError::Usage(
            "no token: sign in with `reemploi login --email EMAIL`, or pass --token TOKEN, \
             set REEMPLOI_TOKEN, or pipe a token in (`reemploi token --role admin | \
             reemploi login`)"
                .to_owned(),
        ));
    }
    Ok(token)
}

/// Runs `logout`: ends the stored session on the server (best effort) and
/// deletes the credentials from the file, keeping the address.
pub async fn logout(ctx: &Ctx) -> Result<(), CliError> {
    let path = config_path()?;
    let _lock = config::lock_async(&path).await?;
    let mut file = config::load(&path)?;
    if file.token.is_none() && file.refresh_token.is_none() {
        note("not logged in: no credentials are stored");
        return emit(ctx.format, json!({"loggedOut": false}), String::new);
    }
    let addr = file
        .addr
        .clone()
        .unwrap_or_else(|| ctx.settings.addr.clone());
    let ended = match file.session(&path) {
        Some(stored) => Some(sign_out(ctx, &addr, stored.refresh).await),
        None => None,
    };
    file.forget_credentials();
    config::save(&path, &file)?;
    let shown = display_addr(&addr);
    let server = match &ended {
        Some(Ok(())) => "the session is ended on the server".to_owned(),
        Some(Err(e)) => format!(
            "the session could not be ended on the server ({e}); its refresh token stays \
             valid there until it expires, unless you sign in and out again"
        ),
        None => "the stored token was not a session: it works until it expires".to_owned(),
    };
    emit(
        ctx.format,
        json!({"loggedOut": true, "addr": shown, "config": path.display().to_string(),
               "sessionEnded": matches!(ended, Some(Ok(())))}),
        || {
            format!(
                "logged out of {shown}: credentials deleted from {}; {server}\n",
                path.display()
            )
        },
    )
}

/// SignOut with a refresh token.
async fn sign_out(ctx: &Ctx, addr: &str, refresh_token: String) -> Result<(), CliError> {
    let conn = anonymous(ctx, addr).await?;
    answer(
        conn.identity()
            .sign_out(ipb::SignOutRequest { refresh_token })
            .await,
    )
    .map(drop)
}

/// Runs `signup`: a partner account for a new ESS structure, signed in at
/// once so that it can register the structure.
pub async fn signup(ctx: &Ctx, addr: Option<String>, a: SignupArgs) -> Result<(), CliError> {
    let path = config_path()?;
    let addr = address(addr, &config::load(&path)?);
    let display_name = prompt::name(a.name, "--name")?;
    let password = prompt::new_password()?;
    let conn = anonymous(ctx, &addr).await?;
    let session = answer(
        conn.identity()
            .sign_up(ipb::SignUpRequest {
                email: a.email.trim().to_owned(),
                password,
                display_name,
                structure_name: a.structure.clone(),
            })
            .await,
    )?;
    save_session(&conn, &path, &addr, &session).await?;
    let account = session.account.unwrap_or_default();
    emit(
        ctx.format,
        json!({"partner": account.partner, "config": path.display().to_string(),
               "account": crate::json::message(&account)}),
        || signup_text(&account, &a.structure, &path),
    )
}

/// What `signup` tells people: who they are now and what comes next.
fn signup_text(account: &ipb::Account, structure: &str, path: &Path) -> String {
    format!(
        "signed up as {email}, staff of the partner {partner} (\"{structure}\"); logged in, \
         session stored in {path}\n\
         next: register the structure (the registry records it under {partner}; a territory \
         admin then verifies it):\n  \
         reemploi partners register --legal-name \"{structure}\" --siret SIRET --kind ACI \\\n    \
         --lat LAT --lon LON --radius-km 30 --category CATEGORY\n",
        email = account.email,
        partner = account.partner,
        path = path.display(),
    )
}
