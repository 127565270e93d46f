//! The identity tables, read and written with bound values only.

use reemploi_runtime::auth::Role;
use reemploi_runtime::error::ApiError;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use uuid::Uuid;

use crate::error::Result;
use crate::model::{Account, AccountStatus, ApiToken, Email, Grant, Invitation};

/// Every column of `accounts`, in the order [`account`] reads them.
pub const ACCOUNT_COLUMNS: &str = "id, email, display_name, role, org, partner, status, \
     password_hash, created_at, updated_at, version";

fn stored<T, E: std::fmt::Display>(what: &str, r: std::result::Result<T, E>) -> Result<T> {
    r.map_err(|e| ApiError::Internal(format!("stored {what}: {e}")).into())
}

fn uuid_col(row: &AnyRow, col: &str) -> Result<Uuid> {
    let raw: String = row.try_get(col)?;
    stored(col, Uuid::try_parse(&raw))
}

fn grant(row: &AnyRow) -> Result<Grant> {
    let role: String = row.try_get("role")?;
    let partner: Option<String> = row.try_get("partner")?;
    Ok(Grant {
        role: stored("role", Role::parse(&role))?,
        org: row.try_get("org")?,
        partner: partner
            .map(|p| stored("partner", Uuid::try_parse(&p)))
            .transpose()?,
    })
}

fn email(row: &AnyRow) -> Result<Email> {
    let raw: String = row.try_get("email")?;
    stored("email", Email::parse("email", &raw))
}

/// An account from a row of [`ACCOUNT_COLUMNS`].
pub fn account(row: &AnyRow) -> Result<Account> {
    let status: String = row.try_get("status")?;
    Ok(Account {
        id: uuid_col(row, "id")?,
        email: email(row)?,
        display_name: row.try_get("display_name")?,
        grant: grant(row)?,
        status: stored("status", AccountStatus::parse(&status))?,
        password_hash: row.try_get("password_hash")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        version: row.try_get("version")?,
    })
}

/// The account of `email`, if any.
pub async fn account_by_email(conn: &mut AnyConnection, email: &Email) -> Result<Option<Account>> {
    let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE email = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(email.as_str())
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(account).transpose()
}

/// The account `id`, if any.
pub async fn account_by_id(conn: &mut AnyConnection, id: Uuid) -> Result<Option<Account>> {
    let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id.to_string())
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(account).transpose()
}

/// Whether any account exists.
pub async fn any_account(conn: &mut AnyConnection) -> Result<bool> {
    let row: Option<(String,)> = sqlx::query_as("SELECT id FROM accounts LIMIT 1")
        .fetch_optional(conn)
        .await?;
    Ok(row.is_some())
}

/// Saves `a`: inserted when `previous` is `None` (a taken email is a unique
/// violation), else updated if still at version `previous`; either way its
/// `account.created` or `account.updated` event joins the outbox.
pub async fn save_account(
    conn: &mut AnyConnection,
    a: &Account,
    previous: Option<i64>,
) -> Result<()> {
    let sql = reemploi_store::query::save_sql("accounts", ACCOUNT_COLUMNS, previous);
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(a.id.to_string())
        .bind(a.email.as_str().to_owned())
        .bind(a.display_name.clone())
        .bind(a.grant.role.as_str())
        .bind(a.grant.org.clone())
        .bind(a.grant.partner.map(|p| p.to_string()))
        .bind(a.status.as_str())
        .bind(a.password_hash.clone())
        .bind(a.created_at)
        .bind(a.updated_at)
        .bind(a.version);
    if let Some(previous) = previous {
        q = q.bind(previous);
    }
    let done = q.execute(&mut *conn).await?;
    reemploi_store::one_row(done)?;
    // Every change of an account is told, in the same transaction, to the
    // services that address people (notifications).
    let event = crate::events::account_event(a, previous.is_none());
    reemploi_events::outbox::enqueue(conn, &event).await?;
    Ok(())
}

/// A page of `table`'s `columns`, newest first, after the id `after`.
async fn newest_first(
    conn: &mut AnyConnection,
    table: &str,
    columns: &str,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<AnyRow>> {
    use reemploi_store::query::{Filter, Order, select_ordered};
    let mut filter = Filter::default();
    if let Some(after) = after {
        filter.add(Order::Newest.after(), after.to_owned())?;
    }
    Ok(select_ordered(conn, table, columns, filter, limit, Order::Newest).await?)
}

/// A page of accounts, newest first, after `after` (an id).
pub async fn list_accounts(
    conn: &mut AnyConnection,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<Account>> {
    let rows = newest_first(conn, "accounts", ACCOUNT_COLUMNS, after, limit).await?;
    rows.iter().map(account).collect()
}

/// Publishes every account once, for the services that started following
/// accounts after they were made: their events join the outbox, with a
/// mark that it was done, in one transaction. Whether it did anything.
pub async fn publish_accounts_once(db: &reemploi_store::Db) -> Result<bool> {
    let mut tx = db.begin_write().await?;
    let done = sqlx::query(
        "INSERT INTO service_keys (name, secret) VALUES ('accounts-published', '') \
         ON CONFLICT (name) DO NOTHING",
    )
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts ORDER BY id");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_all(&mut *tx)
        .await?;
    for row in &rows {
        let event = crate::events::account_event(&account(row)?, false);
        reemploi_events::outbox::enqueue(&mut tx, &event).await?;
    }
    tx.commit().await?;
    Ok(!rows.is_empty())
}

/// One refresh token, as stored.
#[derive(Debug, Clone)]
pub struct RefreshRow {
    /// Its id.
    pub id: Uuid,
    /// Its session (family).
    pub family: Uuid,
    /// Its account.
    pub account: Uuid,
    /// Unix ms.
    pub expires_at: i64,
    /// When it was exchanged, if it was.
    pub used_at: Option<i64>,
    /// When its session was revoked, if it was.
    pub revoked_at: Option<i64>,
}

/// Stores a refresh token of `family`.
pub async fn insert_refresh(
    conn: &mut AnyConnection,
    row: &RefreshRow,
    token_hash: &str,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO refresh_tokens (id, family, account, token_hash, created_at, expires_at, \
         used_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, NULL, NULL)",
    )
    .bind(row.id.to_string())
    .bind(row.family.to_string())
    .bind(row.account.to_string())
    .bind(token_hash)
    .bind(now)
    .bind(row.expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// The refresh token whose hash is `token_hash`.
pub async fn refresh_by_hash(
    conn: &mut AnyConnection,
    token_hash: &str,
) -> Result<Option<RefreshRow>> {
    let row = sqlx::query(
        "SELECT id, family, account, expires_at, used_at, revoked_at FROM refresh_tokens \
         WHERE token_hash = $1",
    )
    .bind(token_hash)
    .fetch_optional(conn)
    .await?;
    row.map(|r| {
        Ok(RefreshRow {
            id: uuid_col(&r, "id")?,
            family: uuid_col(&r, "family")?,
            account: uuid_col(&r, "account")?,
            expires_at: r.try_get("expires_at")?,
            used_at: r.try_get("used_at")?,
            revoked_at: r.try_get("revoked_at")?,
        })
    })
    .transpose()
}

/// Marks refresh token `id` used, if it was not; false if it already was
/// (two exchanges racing: the second is a reuse).
pub async fn use_refresh(conn: &mut AnyConnection, id: Uuid, now: i64) -> Result<bool> {
    let done =
        sqlx::query("UPDATE refresh_tokens SET used_at = $2 WHERE id = $1 AND used_at IS NULL")
            .bind(id.to_string())
            .bind(now)
            .execute(conn)
            .await?;
    Ok(done.rows_affected() == 1)
}

/// Revokes every refresh token of session `family`.
pub async fn revoke_family(conn: &mut AnyConnection, family: Uuid, now: i64) -> Result<()> {
    sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = $2 WHERE family = $1 AND revoked_at IS NULL",
    )
    .bind(family.to_string())
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Revokes every refresh token of `account`.
pub async fn revoke_account_sessions(
    conn: &mut AnyConnection,
    account: Uuid,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = $2 WHERE account = $1 AND revoked_at IS NULL",
    )
    .bind(account.to_string())
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Stores an invitation whose code hashes to `code_hash`.
pub async fn insert_invitation(
    conn: &mut AnyConnection,
    inv: &Invitation,
    code_hash: &str,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO invitations (id, email, role, org, partner, code_hash, invited_by, \
         created_at, expires_at, accepted_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL)",
    )
    .bind(inv.id.to_string())
    .bind(inv.email.as_str())
    .bind(inv.grant.role.as_str())
    .bind(inv.grant.org.clone())
    .bind(inv.grant.partner.map(|p| p.to_string()))
    .bind(code_hash)
    .bind(&inv.invited_by)
    .bind(now)
    .bind(inv.expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Every column of `invitations` [`invitation`] reads.
const INVITATION_COLUMNS: &str =
    "id, email, role, org, partner, invited_by, expires_at, accepted_at";

fn invitation(r: &AnyRow) -> Result<Invitation> {
    Ok(Invitation {
        id: uuid_col(r, "id")?,
        email: email(r)?,
        grant: grant(r)?,
        invited_by: r.try_get("invited_by")?,
        expires_at: r.try_get("expires_at")?,
        accepted_at: r.try_get("accepted_at")?,
    })
}

/// The invitation whose code hashes to `code_hash`.
pub async fn invitation_by_code(
    conn: &mut AnyConnection,
    code_hash: &str,
) -> Result<Option<Invitation>> {
    let sql = format!("SELECT {INVITATION_COLUMNS} FROM invitations WHERE code_hash = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(code_hash)
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(invitation).transpose()
}

/// The newest invitation of `email` neither accepted nor expired at `now`.
pub async fn pending_invitation(
    conn: &mut AnyConnection,
    email: &Email,
    now: i64,
) -> Result<Option<Invitation>> {
    let sql = format!(
        "SELECT {INVITATION_COLUMNS} FROM invitations \
         WHERE email = $1 AND accepted_at IS NULL AND expires_at > $2 ORDER BY id DESC LIMIT 1"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(email.as_str())
        .bind(now)
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(invitation).transpose()
}

/// Marks a single-use code used: `table` is `invitations` (column
/// `accepted_at`) or `password_resets` (`used_at`). False if it already was.
pub async fn use_code(
    conn: &mut AnyConnection,
    table: CodeTable,
    id: Uuid,
    now: i64,
) -> Result<bool> {
    let sql = match table {
        CodeTable::Invitations => {
            "UPDATE invitations SET accepted_at = $2 WHERE id = $1 AND accepted_at IS NULL"
        }
        CodeTable::Resets => {
            "UPDATE password_resets SET used_at = $2 WHERE id = $1 AND used_at IS NULL"
        }
    };
    let done = sqlx::query(sql)
        .bind(id.to_string())
        .bind(now)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// A sign-in with the OpenID provider under way.
#[derive(Debug, Clone)]
pub struct ExternalSignInRow {
    /// Its id.
    pub id: Uuid,
    /// The nonce its id_token must carry.
    pub nonce: String,
    /// Its PKCE code verifier.
    pub code_verifier: String,
    /// Until when it can be finished (Unix ms).
    pub expires_at: i64,
    /// When it was finished, if it was.
    pub used_at: Option<i64>,
}

/// Stores a sign-in under way whose state hashes to `state_hash`.
pub async fn insert_external_sign_in(
    conn: &mut AnyConnection,
    row: &ExternalSignInRow,
    state_hash: &str,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO external_sign_ins (id, state_hash, nonce, code_verifier, created_at, \
         expires_at, used_at) VALUES ($1, $2, $3, $4, $5, $6, NULL)",
    )
    .bind(row.id.to_string())
    .bind(state_hash)
    .bind(&row.nonce)
    .bind(&row.code_verifier)
    .bind(now)
    .bind(row.expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// The sign-in whose state hashes to `state_hash`.
pub async fn external_sign_in(
    conn: &mut AnyConnection,
    state_hash: &str,
) -> Result<Option<ExternalSignInRow>> {
    let row = sqlx::query(
        "SELECT id, nonce, code_verifier, expires_at, used_at FROM external_sign_ins \
         WHERE state_hash = $1",
    )
    .bind(state_hash)
    .fetch_optional(conn)
    .await?;
    row.map(|r| {
        Ok(ExternalSignInRow {
            id: uuid_col(&r, "id")?,
            nonce: r.try_get("nonce")?,
            code_verifier: r.try_get("code_verifier")?,
            expires_at: r.try_get("expires_at")?,
            used_at: r.try_get("used_at")?,
        })
    })
    .transpose()
}

/// Marks a sign-in finished; false if it already was. Sign-ins older than
/// a day are deleted on the way: they can never be finished.
pub async fn use_external_sign_in(conn: &mut AnyConnection, id: Uuid, now: i64) -> Result<bool> {
    sqlx::query("DELETE FROM external_sign_ins WHERE expires_at < $1")
        .bind(now.saturating_sub(24 * 3600 * 1000))
        .execute(&mut *conn)
        .await?;
    let done =
        sqlx::query("UPDATE external_sign_ins SET used_at = $2 WHERE id = $1 AND used_at IS NULL")
            .bind(id.to_string())
            .bind(now)
            .execute(conn)
            .await?;
    Ok(done.rows_affected() == 1)
}

/// The account linked to the provider identity (`issuer`, `subject`).
pub async fn linked_account(
    conn: &mut AnyConnection,
    issuer: &str,
    subject: &str,
) -> Result<Option<Uuid>> {
    let row =
        sqlx::query("SELECT account FROM external_identities WHERE issuer = $1 AND subject = $2")
            .bind(issuer)
            .bind(subject)
            .fetch_optional(conn)
            .await?;
    row.map(|r| uuid_col(&r, "account")).transpose()
}

/// Links the provider identity (`issuer`, `subject`) to `account`.
pub async fn link_account(
    conn: &mut AnyConnection,
    issuer: &str,
    subject: &str,
    account: Uuid,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO external_identities (issuer, subject, account, created_at) \
         VALUES ($1, $2, $3, $4)",
    )
    .bind(issuer)
    .bind(subject)
    .bind(account.to_string())
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// The tables of single-use codes.
#[derive(Debug, Clone, Copy)]
pub enum CodeTable {
    /// Invitation links.
    Invitations,
    /// Password-reset links.
    Resets,
}

/// Stores a reset link for `account` whose code hashes to `code_hash`.
pub async fn insert_reset(
    conn: &mut AnyConnection,
    account: Uuid,
    code_hash: &str,
    now: i64,
    expires_at: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO password_resets (id, account, code_hash, created_at, expires_at, used_at) \
         VALUES ($1, $2, $3, $4, $5, NULL)",
    )
    .bind(Uuid::now_v7().to_string())
    .bind(account.to_string())
    .bind(code_hash)
    .bind(now)
    .bind(expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// The reset whose code hashes to `code_hash`: (id, account, expiry, used).
pub async fn reset_by_code(
    conn: &mut AnyConnection,
    code_hash: &str,
) -> Result<Option<(Uuid, Uuid, i64, Option<i64>)>> {
    let row = sqlx::query(
        "SELECT id, account, expires_at, used_at FROM password_resets WHERE code_hash = $1",
    )
    .bind(code_hash)
    .fetch_optional(conn)
    .await?;
    row.map(|r| {
        Ok((
            uuid_col(&r, "id")?,
            uuid_col(&r, "account")?,
            r.try_get("expires_at")?,
            r.try_get("used_at")?,
        ))
    })
    .transpose()
}

/// Every column of `api_tokens`, in the order [`api_token`] reads them.
const API_TOKEN_COLUMNS: &str = "id, display_name, created_by, created_at, expires_at, revoked_at";

fn api_token(r: &AnyRow) -> Result<ApiToken> {
    Ok(ApiToken {
        id: uuid_col(r, "id")?,
        display_name: r.try_get("display_name")?,
        created_by: r.try_get("created_by")?,
        created_at: r.try_get("created_at")?,
        expires_at: r.try_get("expires_at")?,
        revoked_at: r.try_get("revoked_at")?,
    })
}

/// Stores an API token.
pub async fn insert_api_token(conn: &mut AnyConnection, t: &ApiToken) -> Result<()> {
    sqlx::query(
        "INSERT INTO api_tokens (id, display_name, created_by, created_at, expires_at, revoked_at) \
         VALUES ($1, $2, $3, $4, $5, NULL)",
    )
    .bind(t.id.to_string())
    .bind(&t.display_name)
    .bind(&t.created_by)
    .bind(t.created_at)
    .bind(t.expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// The API token `id`.
pub async fn api_token_by_id(conn: &mut AnyConnection, id: Uuid) -> Result<Option<ApiToken>> {
    let sql = format!("SELECT {API_TOKEN_COLUMNS} FROM api_tokens WHERE id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id.to_string())
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(api_token).transpose()
}

/// Marks API token `id` revoked, if it was not.
pub async fn revoke_api_token(conn: &mut AnyConnection, id: Uuid, now: i64) -> Result<()> {
    sqlx::query("UPDATE api_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
        .bind(id.to_string())
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

/// A page of API tokens, newest first, after `after` (an id).
pub async fn list_api_tokens(
    conn: &mut AnyConnection,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<ApiToken>> {
    let rows = newest_first(conn, "api_tokens", API_TOKEN_COLUMNS, after, limit).await?;
    rows.iter().map(api_token).collect()
}
