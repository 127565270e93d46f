//! Test support: a fresh, empty database per test on either backend, so test
//! suites run against SQLite and PostgreSQL alike without sharing state.

use sqlx::{AnyConnection, Connection, Executor};

use reemploi_store::{Backend, Db};

/// A fresh, empty database for one test. SQLite: a file in a temporary
/// directory that lives as long as this value. PostgreSQL: a database
/// `reemploi_t_<uuid>` created on the server named by `DATABASE_URL` and
/// dropped (best effort) when this value is dropped.
pub struct TestDb {
    /// The pool on the fresh database.
    pub db: Db,
    /// The fresh database's URL, to open more pools on it (e.g. a second
    /// process or a restarted service).
    pub url: String,
    // Keeps the SQLite file's directory alive.
    _dir: Option<tempfile::TempDir>,
    // (server admin URL, database name) to drop on PostgreSQL.
    postgres: Option<(String, String)>,
}

impl std::fmt::Debug for TestDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestDb")
            .field("backend", &self.db.backend())
            .finish_non_exhaustive()
    }
}

/// Creates a fresh database for one test.
///
/// # Panics
///
/// On PostgreSQL, when `DATABASE_URL` is unset or not a `postgres://` URL (a
/// test suite must not silently skip a backend), or when the server refuses.
pub async fn fresh(backend: Backend) -> TestDb {
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().expect("create a temp dir for a test SQLite file");
            let url = Db::sqlite_url(dir.path(), "test").expect("sqlite url");
            let db = Db::connect(&url).await.expect("open test SQLite file");
            TestDb {
                db,
                url,
                _dir: Some(dir),
                postgres: None,
            }
        }
        Backend::Postgres => {
            let admin = postgres_admin_url();
            let name = format!("reemploi_t_{}", uuid::Uuid::now_v7().simple());
            sqlx::any::install_default_drivers();
            let mut conn = AnyConnection::connect(&admin)
                .await
                .expect("connect to the PostgreSQL server named by DATABASE_URL");
            conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .await
                .expect("CREATE DATABASE for a test");
            let _ = conn.close().await;
            let url = with_database(&admin, &name);
            let db = Db::connect(&url)
                .await
                .expect("connect to the test database");
            TestDb {
                db,
                url,
                _dir: None,
                postgres: Some((admin, name)),
            }
        }
    }
}

fn postgres_admin_url() -> String {
    let url = std::env::var("DATABASE_URL").unwrap_or_default();
    if Backend::from_url(&url) != Some(Backend::Postgres) {
        panic!(
            "DATABASE_URL must name a PostgreSQL server (postgres://...) for the PostgreSQL \
             half of the test suite, e.g. DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres"
        );
    }
    url
}

/// Replaces the database path of a `postgres://` URL, keeping its query.
fn with_database(url: &str, database: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let query = rest.find('?').map(|i| &rest[i..]).unwrap_or("");
    format!("{scheme}://{authority}/{database}{query}")
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((admin, name)) = self.postgres.take() else {
            return;
        };
        // Drop is synchronous and may run inside the test's runtime: do the
        // async clean-up on a thread with its own runtime and wait for it, so
        // test databases do not pile up on the server.
        let cleanup = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                if let Ok(mut conn) = AnyConnection::connect(&admin).await {
                    let _ = conn
                        .execute(sqlx::AssertSqlSafe(format!(
                            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                        )))
                        .await;
                    let _ = conn.close().await;
                }
            });
        });
        let _ = cleanup.join();
    }
}

/// Declares, for each async test body `name(backend: Backend)`, a module
/// `name` with two tests, `sqlite` and `postgres`, so every case runs on both
/// backends and the report names which one failed.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() {
                super::$name($crate::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres() {
                super::$name($crate::Backend::Postgres).await
            }
        }
    )*};
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn database_is_replaced_and_query_kept() {
        assert_eq!(
            with_database("postgres://u:p@h:5432/postgres?sslmode=disable", "x"),
            "postgres://u:p@h:5432/x?sslmode=disable"
        );
        assert_eq!(with_database("postgresql://h", "x"), "postgresql://h/x");
        assert_eq!(with_database("postgres://h/", "x"), "postgres://h/x");
    }
}
