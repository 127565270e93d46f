//! `reemploi api-tokens`: integrators' API tokens (admins): create one,
//! whose secret is shown once, list them, revoke one.

use clap::{ArgGroup, Args, Subcommand};
use reemploi_proto::identity as ipb;
use serde_json::json;

use super::{Ctx, pages};
use crate::CliError;
use crate::client::answer;
use crate::dates::parse_time;
use crate::output::{Format, emit, emit_list, note, print};
use crate::session::now_secs;
use crate::views;

/// The `api-tokens` subcommands.
#[derive(Subcommand, Debug)]
pub enum ApiTokensCommand {
    /// Creates an API token for an integrator; prints its secret, once, alone
    /// on stdout.
    #[command(
        after_help = "Examples:\n  reemploi api-tokens create --name \"Plateforme Cycle Up\" --expires-in 90d > token.txt\n  reemploi api-tokens create --name nightly-export --expires-at 2026-12-31"
    )]
    Create(CreateArgs),
    /// Lists API tokens, without their secrets.
    #[command(after_help = "Example:\n  reemploi api-tokens list")]
    List(ListArgs),
    /// Revokes an API token: refused everywhere within a second.
    #[command(after_help = "Example:\n  reemploi api-tokens revoke apiTokens/…")]
    Revoke(RevokeArgs),
}

/// Flags of `api-tokens create`.
#[derive(Args, Debug)]
#[command(group(ArgGroup::new("expiry").required(true).args(["expires_in", "expires_at"])))]
pub struct CreateArgs {
    /// What it is for, e.g. the platform that uses it.
    #[arg(long)]
    pub name: String,
    /// How long it works: days (90d), weeks (12w) or hours (36h); at most 366 days.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_secs)]
    pub expires_in: Option<i64>,
    /// When it stops working: a date (2026-12-31, midnight UTC) or an RFC 3339 time.
    #[arg(long, value_name = "DATE", value_parser = parse_time)]
    pub expires_at: Option<prost_types::Timestamp>,
}

/// Flags of `api-tokens list`.
#[derive(Args, Debug)]
pub struct ListArgs {
    /// At most this many tokens; 0 for all.
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
}

/// Flags of `api-tokens revoke`.
#[derive(Args, Debug)]
pub struct RevokeArgs {
    /// The token: `apiTokens/ID` or `ID`. (Not `token`: that is the global
    /// --token's id, which clap would fill with this value.)
    #[arg(value_name = "API_TOKEN")]
    pub api_token: String,
}

/// `90d`, `12w` or `36h` in seconds.
fn parse_duration_secs(text: &str) -> Result<i64, String> {
    let text = text.trim();
    let usage = || "write a number of days, weeks or hours: 90d, 12w, 36h".to_owned();
    let Some(unit) = text.chars().last() else {
        return Err(usage());
    };
    let number = &text[..text.len() - unit.len_utf8()];
    let per: i64 = match unit {
        'd' => 86_400,
        'w' => 7 * 86_400,
        'h' => 3_600,
        _ => return Err(usage()),
    };
    match number.parse::<i64>() {
        Ok(n) if n > 0 => n
            .checked_mul(per)
            .ok_or_else(|| "far too long: at most 366 days".to_owned()),
        _ => Err(format!("{number:?} is not a positive whole number")),
    }
}

/// `apiTokens/ID` from `ID` or `apiTokens/ID`.
fn token_name(id: &str) -> String {
    let id = id.trim();
    if id.starts_with("apiTokens/") {
        id.to_owned()
    } else {
        format!("apiTokens/{id}")
    }
}

/// Runs an `api-tokens` subcommand.
pub async fn run(ctx: &Ctx, cmd: ApiTokensCommand) -> Result<(), CliError> {
    match cmd {
        ApiTokensCommand::Create(a) => create(ctx, a).await,
        ApiTokensCommand::List(a) => list(ctx, a).await,
        ApiTokensCommand::Revoke(a) => {
            let mut identity = ctx.connect().await?.identity();
            let req = ipb::RevokeApiTokenRequest {
                name: token_name(&a.api_token),
            };
            let token = answer(identity.revoke_api_token(req).await)?;
            emit(ctx.format, crate::json::message(&token), || {
                format!(
                    "revoked {} ({}): refused everywhere within a second\n",
                    token.name, token.display_name
                )
            })
        }
    }
}

/// `api-tokens create`: the secret alone on stdout (or in the JSON), what
/// it is on stderr.
async fn create(ctx: &Ctx, a: CreateArgs) -> Result<(), CliError> {
    let expire_time = match (a.expires_at, a.expires_in) {
        (Some(at), _) => at,
        (None, secs) => prost_types::Timestamp {
            seconds: now_secs().saturating_add(secs.unwrap_or_default()),
            nanos: 0,
        },
    };
    let mut identity = ctx.connect().await?.identity();
    let req = ipb::CreateApiTokenRequest {
        api_token: Some(ipb::ApiToken {
            display_name: a.name,
            expire_time: Some(expire_time),
            ..Default::default()
        }),
    };
    let made = answer(identity.create_api_token(req).await)?;
    let token = made.api_token.unwrap_or_default();
    if ctx.format == Format::Json {
        let mut value = json!({"apiToken": crate::json::message(&token)});
        value["secret"] = json!(made.secret);
        return crate::output::print_json(&value);
    }
    note(&format!(
        "created {} ({}), valid until {}: its secret, below, is shown this once; \
         give it to the integrator as their bearer token",
        token.name,
        token.display_name,
        views::timestamp(token.expire_time.as_ref())
    ));
    print(&format!("{}\n", made.secret))
}

/// `api-tokens list`.
async fn list(ctx: &Ctx, a: ListArgs) -> Result<(), CliError> {
    let identity = ctx.connect().await?.identity();
    let tokens = pages(a.limit, |page_token, page_size| {
        let mut identity = identity.clone();
        let req = ipb::ListApiTokensRequest {
            page_size,
            page_token,
        };
        async move {
            let r = answer(identity.list_api_tokens(req).await)?;
            Ok((r.api_tokens, r.next_page_token))
        }
    })
    .await?;
    emit_list(
        ctx.format,
        &tokens,
        crate::json::message,
        views::API_TOKEN_COLUMNS,
        views::api_token_row,
        "API token",
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn durations_and_dates_parse() {
        assert_eq!(parse_duration_secs("90d"), Ok(90 * 86_400));
        assert_eq!(parse_duration_secs("2w"), Ok(14 * 86_400));
        assert_eq!(parse_duration_secs("36h"), Ok(36 * 3_600));
        assert!(parse_duration_secs("0d").is_err());
        assert!(parse_duration_secs("90").is_err());
        assert!(parse_duration_secs("d").is_err());
        assert!(parse_duration_secs("é").is_err());
        assert!(parse_duration_secs("").is_err());
        assert_eq!(parse_time("2026-12-31").unwrap().seconds, 1_798_675_200);
        assert_eq!(
            parse_time("2026-12-31T01:00:00Z").unwrap().seconds,
            1_798_678_800
        );
        assert!(parse_time("31/12/2026").is_err());
        assert_eq!(token_name("abc"), "apiTokens/abc");
        assert_eq!(token_name("apiTokens/abc"), "apiTokens/abc");
    }
}
