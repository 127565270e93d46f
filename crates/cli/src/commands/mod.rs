//! The client commands: each module holds one group's grammar (clap) and
//! what it does through the public gRPC API.

pub mod accounts;
pub mod api_tokens;
pub mod audit;
pub mod categories;
pub mod claims;
pub mod deadletters;
pub mod export;
pub mod hours;
pub mod impact;
pub mod login;
pub mod lots;
pub mod lots_import;
pub mod matching;
pub mod needs;
pub mod notifications;
pub mod outcomes;
pub mod partners;
pub mod partners_import;
pub mod password;
pub mod proposals;
pub mod recolement;
pub mod sites;
pub mod slots;
pub mod updates;
pub mod webhooks;

use crate::CliError;
use crate::client::Connection;
use crate::config::Settings;
use crate::output::Format;

/// What every client command gets: where to connect, with which token, and
/// how to print.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// Address and token.
    pub settings: Settings,
    /// The output format.
    pub format: Format,
}

impl Ctx {
    /// Connects to the server.
    pub async fn connect(&self) -> Result<Connection, CliError> {
        Connection::open(&self.settings).await
    }

    /// Connects to the server without credentials, for the calls that need
    /// none (accepting an invitation, resetting a password).
    pub async fn connect_anonymous(&self) -> Result<Connection, CliError> {
        Connection::open(&self.settings.anonymous()).await
    }
}

/// Fetches pages until `limit` items (0: all) or the last page. `fetch`
/// gets a page token and returns the page's items and the next token.
pub async fn pages<T, F, Fut>(limit: usize, mut fetch: F) -> Result<Vec<T>, CliError>
where
    F: FnMut(String, i32) -> Fut,
    Fut: std::future::Future<Output = Result<(Vec<T>, String), CliError>>,
{
    const PAGE: usize = 200;
    let mut items = Vec::new();
    let mut token = String::new();
    loop {
        let want = if limit == 0 {
            PAGE
        } else {
            PAGE.min(limit - items.len())
        };
        let (page, next) = fetch(token, i32::try_from(want).unwrap_or(200)).await?;
        items.extend(page);
        if next.is_empty() || (limit != 0 && items.len() >= limit) {
            if limit != 0 && (items.len() > limit || !next.is_empty()) {
                items.truncate(limit);
                // A list cut short must not pass for the whole of it.
                crate::output::note(&format!(
                    "first {limit} shown; more with --limit {} (or --limit 0 for all)",
                    limit.saturating_mul(2)
                ));
            }
            return Ok(items);
        }
        token = next;
    }
}

/// A fresh idempotency key, for commands run without `--request-id`.
pub fn request_id() -> String {
    uuid::Uuid::now_v7().to_string()
}
