//! Database access shared by every reemploi service: a database URL becomes a
//! connection pool on SQLite (the embedded default) or PostgreSQL, the service's
//! embedded migrations are run on the right backend, and driver errors are
//! interpreted (unique / foreign-key / check violations, retryable conflicts,
//! database unavailable) so services can turn them into domain errors.
//!
//! One SQL text serves both backends through [`sqlx::AnyPool`]: write `$1, $2`
//! placeholders, store ids as TEXT, timestamps as BIGINT unix milliseconds
//! ([`now_millis`]), integers as BIGINT (decoded as `i64`) and bytes as
//! BLOB / BYTEA.

use std::borrow::Cow;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::error::DatabaseError;
use sqlx::{AnyPool, ConnectOptions, Connection, Executor};

pub mod cursor;
pub mod idempotency;
pub mod query;
pub mod snapshot;

/// Connections kept by a SQLite pool: SQLite has one writer at a time, so more
/// connections only add lock contention.
const SQLITE_POOL_SIZE: u32 = 4;
/// Connections kept by a PostgreSQL pool per service replica.
const POSTGRES_POOL_SIZE: u32 = 10;
/// How long a request waits for a pooled connection before the database is
/// deemed unavailable.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long SQLite waits on a lock held by another connection before failing
/// with SQLITE_BUSY.
const SQLITE_BUSY_TIMEOUT_MS: u64 = 10_000;

/// Which database engine a [`Db`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file (embedded mode).
    Sqlite,
    /// A PostgreSQL server (distributed mode).
    Postgres,
}

impl Backend {
    /// Both backends, for test suites that must run against each.
    pub const ALL: [Backend; 2] = [Backend::Sqlite, Backend::Postgres];

    /// Picks the backend from a URL's scheme, `None` when unsupported.
    pub fn from_url(url: &str) -> Option<Backend> {
        if url.starts_with("sqlite:") {
            Some(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Backend::Postgres)
        } else {
            None
        }
    }
}

/// The two migrators of one service, embedded by the service crate with
/// `sqlx::migrate!("./migrations/sqlite")` and `sqlx::migrate!("./migrations/postgres")`.
pub struct Migrations {
    /// Migrations run on SQLite.
    pub sqlite: sqlx::migrate::Migrator,
    /// Migrations run on PostgreSQL.
    pub postgres: sqlx::migrate::Migrator,
}

/// A connection pool on either backend.
#[derive(Clone)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
    schema: Option<String>,
}

// Written by hand so the URL (which may carry a password) never reaches a log.
impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

/// Pool settings; the defaults suit a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbOptions {
    /// Pool size; `None` picks 4 on SQLite (one writer at a time anyway) and 10 on PostgreSQL.
    pub max_connections: Option<u32>,
    /// How long to wait for a connection (including the first connect) before
    /// reporting [`StoreError::Unavailable`].
    pub acquire_timeout: Duration,
    /// On PostgreSQL, the schema the service's tables (and its migration
    /// history) live in, created if missing, so that several services can
    /// share one database without sharing a table. Ignored on SQLite, where
    /// each service has its own file.
    pub schema: Option<String>,
}

impl Default for DbOptions {
    fn default() -> Self {
        DbOptions {
            max_connections: None,
            acquire_timeout: ACQUIRE_TIMEOUT,
            schema: None,
        }
    }
}

impl Db {
    /// Opens a pool on `sqlite://path`, `sqlite:path`, `postgres://...` or
    /// `postgresql://...`. A SQLite file is created if missing and put in WAL
    /// mode. Any other scheme is a [`StoreError::Config`].
    pub async fn connect(url: &str) -> Result<Db, StoreError> {
        Self::connect_with(url, DbOptions::default()).await
    }

    /// [`Db::connect`] with explicit pool settings.
    pub async fn connect_with(url: &str, opts: DbOptions) -> Result<Db, StoreError> {
        sqlx::any::install_default_drivers();
        match Backend::from_url(url) {
            Some(Backend::Sqlite) => Self::connect_sqlite(url, opts).await,
            Some(Backend::Postgres) => Self::connect_postgres(url, opts).await,
            None => Err(StoreError::Config(format!(
                "unsupported database URL scheme `{}`: expected sqlite://, postgres:// or postgresql://",
                scheme_of(url)
            ))),
        }
    }

    async fn connect_sqlite(url: &str, opts: DbOptions) -> Result<Db, StoreError> {
        // sqlx opens SQLite read-write without creating the file unless asked:
        // a missing file is the normal first start of the embedded mode.
        create_private_file(url)?;
        let url = if url.contains("mode=") {
            url.to_owned()
        } else if url.contains('?') {
            format!("{url}&mode=rwc")
        } else {
            format!("{url}?mode=rwc")
        };
        let options: AnyConnectOptions = url
            .parse()
            .map_err(|_| StoreError::Config("malformed sqlite URL".to_owned()))?;
        let options = options.disable_statement_logging();

        // WAL is a property of the file: switch it once, on a single connection,
        // because the switch needs an exclusive lock that busy_timeout does not
        // wait for when pooled connections race for it.
        {
            let mut conn = options.connect().await?;
            sqlite_session_pragmas(&mut conn).await?;
            conn.execute("PRAGMA journal_mode = WAL").await?;
            conn.close().await?;
        }

        let pool = AnyPoolOptions::new()
            .max_connections(opts.max_connections.unwrap_or(SQLITE_POOL_SIZE))
            .acquire_timeout(opts.acquire_timeout)
            // A connection to a file in this process has no server or
            // network to lose between uses: no ping before each use, a
            // round trip to its thread on every call. sqlx still pings it
            // when it comes back to the pool, where a statement left
            // half-done shows.
            .test_before_acquire(false)
            .after_connect(|conn, _meta| Box::pin(sqlite_session_pragmas(conn)))
            .connect_with(options)
            .await?;
        Ok(Db {
            pool,
            backend: Backend::Sqlite,
            schema: None,
        })
    }

    async fn connect_postgres(url: &str, opts: DbOptions) -> Result<Db, StoreError> {
        let options: AnyConnectOptions = url
            .parse()
            .map_err(|_| StoreError::Config("malformed postgres URL".to_owned()))?;
        let options = options.disable_statement_logging();
        let mut pool = AnyPoolOptions::new()
            .max_connections(opts.max_connections.unwrap_or(POSTGRES_POOL_SIZE))
            .acquire_timeout(opts.acquire_timeout);
        if let Some(schema) = &opts.schema {
            if schema.is_empty() || !schema.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
                return Err(StoreError::Config(format!(
                    "invalid schema name `{schema}`: lowercase letters and _ only"
                )));
            }
            let mut conn = options.connect().await?;
            conn.execute(sqlx::AssertSqlSafe(format!(
                "CREATE SCHEMA IF NOT EXISTS {schema}"
            )))
            .await?;
            conn.close().await?;
            let set = format!("SET search_path TO {schema}");
            pool = pool.after_connect(move |conn, _meta| {
                let set = set.clone();
                Box::pin(async move {
                    conn.execute(sqlx::AssertSqlSafe(set)).await?;
                    Ok(())
                })
            });
        }
        let pool = pool.connect_with(options).await?;
        Ok(Db {
            pool,
            backend: Backend::Postgres,
            schema: opts.schema,
        })
    }

    /// The default embedded URL for a service: the file `<data_dir>/<service>.db`,
    /// creating `data_dir` (readable by its owner only) if needed.
    pub fn sqlite_url(data_dir: &Path, service: &str) -> Result<String, StoreError> {
        if service.is_empty()
            || !service
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(StoreError::Config(format!(
                "invalid service name `{service}` for a database file"
            )));
        }
        create_private_dir(data_dir)?;
        sqlite_file_url(&data_dir.join(format!("{service}.db")))
    }

    /// Runs the service's migrations for this backend.
    pub async fn migrate(&self, migrations: &Migrations) -> Result<(), StoreError> {
        let migrator = match self.backend {
            Backend::Sqlite => &migrations.sqlite,
            Backend::Postgres => &migrations.postgres,
        };
        migrator.run(&self.pool).await.map_err(|e| match e {
            // A database that went away is not a migration defect.
            sqlx::migrate::MigrateError::Execute(inner) if is_unavailable(&inner) => {
                StoreError::Unavailable(inner)
            }
            other => StoreError::Migrate(other),
        })
    }

    /// The underlying pool, for queries.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Which engine this pool talks to.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// A PostgreSQL advisory lock key for `purpose` within this database's
    /// schema: advisory locks are per database, and services sharing one
    /// database (each in its schema) must not take each other's.
    pub fn lock_key(&self, purpose: &str) -> i64 {
        let name = format!("{}:{purpose}", self.schema.as_deref().unwrap_or(""));
        // FNV-1a: stable across processes and versions, unlike std's hasher.
        let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        });
        i64::from_ne_bytes(hash.to_ne_bytes())
    }

    /// Starts a write transaction. On SQLite it is `BEGIN IMMEDIATE`, taking the
    /// write lock up front: a deferred transaction that reads then writes fails
    /// with SQLITE_BUSY_SNAPSHOT when another writer committed in between, and
    /// busy_timeout cannot help with that one.
    pub async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, StoreError> {
        let tx = match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        };
        Ok(tx)
    }

    /// Closes every connection, waiting for those in use to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Creates `dir` and its missing parents; those created here are readable
/// by their owner only (0700), since they hold databases and secrets.
pub fn create_private_dir(dir: &Path) -> Result<(), StoreError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(|e| {
        StoreError::Config(format!(
            "cannot create data directory {}: {e}",
            dir.display()
        ))
    })
}

/// The `sqlite://` URL of the database file `file`.
pub fn sqlite_file_url(file: &Path) -> Result<String, StoreError> {
    let file = file
        .to_str()
        .ok_or_else(|| StoreError::Config(format!("path {} is not valid UTF-8", file.display())))?;
    // `?` and `#` would be read as the URL's query or fragment.
    let escaped = file
        .replace('%', "%25")
        .replace('?', "%3F")
        .replace('#', "%23");
    Ok(format!("sqlite://{escaped}"))
}

/// Creates the SQLite file of `url` readable and writable by its owner only
/// (0600) when it does not exist yet; SQLite gives its `-wal` and `-shm`
/// files the same permissions.
fn create_private_file(url: &str) -> Result<(), StoreError> {
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or_default();
    let path = path.split('?').next().unwrap_or_default();
    if path.is_empty() || path.starts_with(':') || path.starts_with("file:") {
        return Ok(());
    }
    let path = path
        .replace("%3F", "?")
        .replace("%23", "#")
        .replace("%25", "%");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(&path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        // A missing directory and the like: sqlx reports it better.
        Err(_) => Ok(()),
    }
}

/// Per-connection SQLite settings (these pragmas do not persist in the file).
async fn sqlite_session_pragmas(conn: &mut sqlx::AnyConnection) -> Result<(), sqlx::Error> {
    conn.execute(sqlx::AssertSqlSafe(format!(
        "PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}"
    )))
    .await?;
    conn.execute("PRAGMA foreign_keys = ON").await?;
    conn.execute("PRAGMA synchronous = NORMAL").await?;
    Ok(())
}

/// The scheme of a URL, for error messages that must not echo credentials.
fn scheme_of(url: &str) -> Cow<'_, str> {
    match url.split_once(':') {
        Some((scheme, _))
            if !scheme.is_empty()
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')) =>
        {
            Cow::Borrowed(scheme)
        }
        _ => Cow::Borrowed("<none>"),
    }
}

/// Storage errors, with constraint violations interpreted so services can turn
/// them into domain errors.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database URL or settings are wrong.
    #[error("database configuration: {0}")]
    Config(String),
    /// The database cannot be reached (connect failure, pool timeout, I/O).
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// A UNIQUE or PRIMARY KEY constraint was violated. On SQLite, which names
    /// no constraint, `constraint` holds the message's `table.column` list.
    #[error("unique constraint violated ({constraint:?})")]
    UniqueViolation {
        /// The constraint's name (PostgreSQL) or `table.column, ...` (SQLite).
        constraint: Option<String>,
    },
    /// A FOREIGN KEY constraint was violated.
    #[error("foreign key constraint violated ({constraint:?})")]
    ForeignKeyViolation {
        /// The constraint's name, when the backend gives it.
        constraint: Option<String>,
    },
    /// A CHECK constraint was violated.
    #[error("check constraint violated ({constraint:?})")]
    CheckViolation {
        /// The constraint's name, when the backend gives it.
        constraint: Option<String>,
    },
    /// Serialization failure, deadlock or SQLite busy: the transaction may be
    /// retried as a whole.
    #[error("conflicting concurrent transaction; retry")]
    Conflict,
    /// Migrations could not be applied.
    #[error("migration failed: {0}")]
    Migrate(#[source] sqlx::migrate::MigrateError),
    /// Any other database error.
    #[error("database error: {0}")]
    Other(#[source] sqlx::Error),
}

impl StoreError {
    /// Whether retrying the whole operation later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Conflict | StoreError::Unavailable(_))
    }
}

/// Whether an error means the database is unreachable rather than the query wrong.
fn is_unavailable(e: &sqlx::Error) -> bool {
    matches!(
        e,
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_)
    ) || matches!(e, sqlx::Error::Tls(_) | sqlx::Error::WorkerCrashed)
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if is_unavailable(&e) {
            return StoreError::Unavailable(e);
        }
        let sqlx::Error::Database(db) = &e else {
            return StoreError::Other(e);
        };
        if is_postgres_going_away(db.as_ref()) {
            return StoreError::Unavailable(e);
        }
        match interpret(db.as_ref()) {
            Some(interpreted) => interpreted,
            None => StoreError::Other(e),
        }
    }
}

/// Interprets a database error by SQLSTATE (PostgreSQL) or extended result code (SQLite).
fn interpret(db: &dyn DatabaseError) -> Option<StoreError> {
    let code = db.code()?;
    let constraint = db.constraint().map(str::to_owned);
    if is_sqlite_error(db) {
        return interpret_sqlite(code.parse::<i32>().ok()?, db.message());
    }
    match code.as_ref() {
        "23505" => Some(StoreError::UniqueViolation { constraint }),
        "23503" => Some(StoreError::ForeignKeyViolation { constraint }),
        "23514" => Some(StoreError::CheckViolation { constraint }),
        "40001" | "40P01" => Some(StoreError::Conflict),
        _ => None,
    }
}

/// PostgreSQL connection exceptions (class 08) and shutdowns (57P01..57P03):
/// the server is going away, the query was fine.
fn is_postgres_going_away(db: &dyn DatabaseError) -> bool {
    !is_sqlite_error(db)
        && db.code().is_some_and(|c| {
            c.starts_with("08") || matches!(c.as_ref(), "57P01" | "57P02" | "57P03")
        })
}

/// Tells the drivers apart by the concrete error type rather than by the shape
/// of the code, which would be guesswork.
fn is_sqlite_error(db: &dyn DatabaseError) -> bool {
    db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some()
}

fn interpret_sqlite(code: i32, message: &str) -> Option<StoreError> {
    // Extended result codes, https://www.sqlite.org/rescode.html
    const SQLITE_BUSY: i32 = 5;
    const SQLITE_LOCKED: i32 = 6;
    const SQLITE_BUSY_RECOVERY: i32 = 261;
    const SQLITE_LOCKED_SHAREDCACHE: i32 = 262;
    const SQLITE_BUSY_SNAPSHOT: i32 = 517;
    const SQLITE_BUSY_TIMEOUT: i32 = 773;
    const SQLITE_CONSTRAINT_CHECK: i32 = 275;
    const SQLITE_CONSTRAINT_FOREIGNKEY: i32 = 787;
    const SQLITE_CONSTRAINT_PRIMARYKEY: i32 = 1555;
    const SQLITE_CONSTRAINT_UNIQUE: i32 = 2067;
    match code {
        SQLITE_CONSTRAINT_UNIQUE | SQLITE_CONSTRAINT_PRIMARYKEY => {
            Some(StoreError::UniqueViolation {
                constraint: sqlite_constraint_columns(message),
            })
        }
        SQLITE_CONSTRAINT_FOREIGNKEY => Some(StoreError::ForeignKeyViolation { constraint: None }),
        SQLITE_CONSTRAINT_CHECK => Some(StoreError::CheckViolation {
            constraint: sqlite_check_name(message),
        }),
        SQLITE_BUSY
        | SQLITE_LOCKED
        | SQLITE_BUSY_RECOVERY
        | SQLITE_LOCKED_SHAREDCACHE
        | SQLITE_BUSY_SNAPSHOT
        | SQLITE_BUSY_TIMEOUT => Some(StoreError::Conflict),
        _ => None,
    }
}

/// `UNIQUE constraint failed: lots.site_id, lots.code` -> `lots.site_id, lots.code`.
fn sqlite_constraint_columns(message: &str) -> Option<String> {
    let (_, rest) = message.split_once("constraint failed:")?;
    let rest = rest.trim();
    (!rest.is_empty()).then(|| rest.to_owned())
}

/// `CHECK constraint failed: quantity_positive` -> `quantity_positive` (SQLite
/// names the constraint when it has a name, else gives the expression).
fn sqlite_check_name(message: &str) -> Option<String> {
    sqlite_constraint_columns(message)
}

/// The outcome of a write guarded by a row's version: exactly one row
/// changed, or another writer moved the row first ([`StoreError::Conflict`]).
pub fn one_row(done: sqlx::any::AnyQueryResult) -> Result<(), StoreError> {
    if done.rows_affected() == 1 {
        Ok(())
    } else {
        Err(StoreError::Conflict)
    }
}

/// Unix time in milliseconds, the timestamp representation in every table.
pub fn now_millis() -> i64 {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsupported_scheme_does_not_echo_credentials() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let err = rt
            .block_on(Db::connect("mysql://root:hunter2@db/x"))
            .unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, StoreError::Config(_)));
        assert!(text.contains("mysql"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
        let err = rt.block_on(Db::connect("hunter2")).unwrap_err();
        assert!(!err.to_string().contains("hunter2"));
    }

    #[test]
    fn sqlite_messages_give_columns() {
        assert_eq!(
            sqlite_constraint_columns("UNIQUE constraint failed: lots.site_id, lots.code")
                .as_deref(),
            Some("lots.site_id, lots.code")
        );
        assert_eq!(
            sqlite_constraint_columns("FOREIGN KEY constraint failed"),
            None
        );
    }

    #[test]
    fn sqlite_url_is_a_file_in_the_data_dir() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("nested").join("data");
        let url = Db::sqlite_url(&data, "inventory").unwrap();
        assert!(data.is_dir());
        assert_eq!(url, format!("sqlite://{}/inventory.db", data.display()));
        assert!(Db::sqlite_url(&data, "../etc").is_err());
    }

    #[cfg(unix)]
    #[test]
    fn data_dir_and_database_files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let url = Db::sqlite_url(&data, "inventory").unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&data), 0o700);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let db = Db::connect(&url).await.unwrap();
            sqlx::query("CREATE TABLE t (x BIGINT)")
                .execute(db.pool())
                .await
                .unwrap();
            db.close().await;
        });
        assert_eq!(mode(&data.join("inventory.db")), 0o600);
    }

    #[test]
    fn now_millis_is_recent() {
        // 2024-01-01 in ms: anything earlier means the unit is wrong.
        assert!(now_millis() > 1_704_067_200_000);
    }
}
