//! Upgrade tests: a database made by a service's earlier migrations and
//! holding rows of that schema (a fixture), then brought up to date by the
//! service's real migrations, as a deployed database is at a new release.
//!
//! A service keeps one fixture per migration version but the newest, per
//! backend: `tests/fixtures/upgrade/{sqlite,postgres}/NNNN.sql`, the rows as
//! they were at schema version NNNN, with at least one row in every table.
//! [`Upgrade::check_fixtures`] fails when a migration lands without a
//! fixture of the version before it, so that every migration is run over
//! data; [`Upgrade::seeded`] makes the database of one fixture, and
//! [`Seeded::upgrade`] runs the remaining migrations and checks that every
//! table kept its rows.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use reemploi_store::{Backend, Db, Migrations};
use sqlx::Row;
use sqlx::migrate::Migrator;

use crate::db::TestDb;

/// The migrations of one service and the directory of its fixtures.
pub struct Upgrade {
    migrations: Migrations,
    dir: PathBuf,
    may_be_empty: Vec<&'static str>,
}

impl std::fmt::Debug for Upgrade {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upgrade")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

/// A fresh database at an earlier schema version, holding its fixture.
pub struct Seeded {
    /// The database (keep it alive as long as it is used).
    pub test_db: TestDb,
    /// The schema version the fixture was written for.
    pub from: i64,
    /// Rows per table as the fixture left them.
    rows: BTreeMap<String, i64>,
}

impl std::fmt::Debug for Seeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Seeded")
            .field("from", &self.from)
            .field("rows", &self.rows)
            .finish_non_exhaustive()
    }
}

/// The fixture file of schema version `version` on `backend`, under `dir`.
pub fn fixture_path(dir: &Path, backend: Backend, version: i64) -> PathBuf {
    dir.join(backend_dir(backend))
        .join(format!("{version:04}.sql"))
}

fn backend_dir(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    }
}

fn versions(migrator: &Migrator) -> Vec<i64> {
    migrator.iter().map(|m| m.version).collect()
}

impl Upgrade {
    /// A service's `migrations()` and its `tests/fixtures/upgrade` directory.
    pub fn new(migrations: Migrations, dir: impl Into<PathBuf>) -> Upgrade {
        Upgrade {
            migrations,
            dir: dir.into(),
            may_be_empty: Vec::new(),
        }
    }

    /// Tables a fixture may leave empty because the service never writes
    /// them (an outbox of a service that publishes nothing, an inbox of one
    /// that follows nothing); every other table needs rows.
    pub fn may_be_empty(mut self, tables: &[&'static str]) -> Upgrade {
        self.may_be_empty.extend_from_slice(tables);
        self
    }

    fn migrator(&self, backend: Backend) -> &Migrator {
        match backend {
            Backend::Sqlite => &self.migrations.sqlite,
            Backend::Postgres => &self.migrations.postgres,
        }
    }

    /// The versions there is data to upgrade from: every migration's but
    /// the newest (which nothing upgrades yet).
    pub fn from_versions(&self) -> Vec<i64> {
        let mut all = versions(&self.migrations.sqlite);
        all.pop();
        all
    }

    /// Panics, naming every problem, unless both backends have the same
    /// migration versions and each version but the newest has a fixture on
    /// both; a fixture of a version that is no migration's is refused too.
    pub fn check_fixtures(&self) {
        let mut problems = Vec::new();
        let sqlite = versions(&self.migrations.sqlite);
        let postgres = versions(&self.migrations.postgres);
        if sqlite != postgres {
            problems.push(format!(
                "the backends' migrations differ: sqlite {sqlite:?}, postgres {postgres:?}"
            ));
        }
        let known: BTreeSet<i64> = sqlite.iter().chain(&postgres).copied().collect();
        for backend in Backend::ALL {
            for pair in sqlite.windows(2) {
                let path = fixture_path(&self.dir, backend, pair[0]);
                if !path.is_file() {
                    problems.push(format!(
                        "no fixture {}: migration {} is run over no data",
                        path.display(),
                        pair[1]
                    ));
                }
            }
            problems.extend(self.stray_fixtures(backend, &known));
        }
        assert!(
            problems.is_empty(),
            "upgrade fixtures:\n  {}",
            problems.join("\n  ")
        );
    }

    /// Files of a backend's fixture directory that name no migration.
    fn stray_fixtures(&self, backend: Backend, known: &BTreeSet<i64>) -> Vec<String> {
        let dir = self.dir.join(backend_dir(backend));
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return vec![format!("no fixture directory {}", dir.display())];
        };
        let mut stray = Vec::new();
        for entry in entries {
            let path = entry.expect("read a fixture directory").path();
            let version = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".sql"))
                .filter(|v| v.len() == 4)
                .and_then(|v| v.parse::<i64>().ok());
            if !version.is_some_and(|v| known.contains(&v)) {
                stray.push(format!(
                    "{} is not NNNN.sql for a migration version",
                    path.display()
                ));
            }
        }
        stray
    }

    /// A fresh database on `backend` made by the migrations up to and
    /// including `from`, holding the rows of fixture `from`.
    ///
    /// # Panics
    ///
    /// When a migration or the fixture fails, or when the fixture leaves a
    /// table empty (an upgrade over an empty table proves nothing).
    pub async fn seeded(&self, backend: Backend, from: i64) -> Seeded {
        let test_db = crate::db::fresh(backend).await;
        let earlier: Vec<_> = self
            .migrator(backend)
            .iter()
            .filter(|m| m.version <= from)
            .cloned()
            .collect();
        assert!(
            earlier.last().is_some_and(|m| m.version == from),
            "no migration {from} on {backend:?}"
        );
        Migrator::with_migrations(earlier)
            .run(test_db.db.pool())
            .await
            .unwrap_or_else(|e| panic!("migrations up to {from} on {backend:?}: {e}"));
        let path = fixture_path(&self.dir, backend, from);
        let sql = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("read fixture {}: {e}", path.display()));
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(test_db.db.pool())
            .await
            .unwrap_or_else(|e| panic!("load fixture {}: {e}", path.display()));
        let rows = row_counts(&test_db.db).await;
        let empty: Vec<&String> = rows
            .iter()
            .filter(|(t, n)| **n == 0 && !self.may_be_empty.contains(&t.as_str()))
            .map(|(t, _)| t)
            .collect();
        assert!(
            empty.is_empty(),
            "fixture {} leaves tables empty: {empty:?}",
            path.display()
        );
        Seeded {
            test_db,
            from,
            rows,
        }
    }
}

impl Seeded {
    /// The seeded database.
    pub fn db(&self) -> &Db {
        &self.test_db.db
    }

    /// Runs the remaining migrations as a service's start does, then checks
    /// that every table the fixture filled and that still exists holds as
    /// many rows as before.
    pub async fn upgrade(&self, migrations: &Migrations) {
        let backend = self.db().backend();
        self.db()
            .migrate(migrations)
            .await
            .unwrap_or_else(|e| panic!("upgrade from {} on {backend:?}: {e}", self.from));
        let after = row_counts(self.db()).await;
        let lost: Vec<String> = self
            .rows
            .iter()
            .filter_map(|(table, before)| {
                let now = after.get(table)?;
                (now != before).then(|| format!("{table}: {before} rows, now {now}"))
            })
            .collect();
        assert!(
            lost.is_empty(),
            "upgrade from {} on {backend:?} changed row counts: {lost:?}",
            self.from
        );
    }

    /// Waits (20 s at most) until the service's relay has published the
    /// outbox row of `event_id`, which the fixture left unpublished.
    pub async fn wait_relayed(&self, event_id: &str) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let published: Option<i64> =
                sqlx::query_scalar("SELECT published_at FROM outbox WHERE event_id = $1")
                    .bind(event_id)
                    .fetch_one(self.db().pool())
                    .await
                    .unwrap_or_else(|e| panic!("outbox row {event_id}: {e}"));
            if published.is_some() {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "upgraded from {}: outbox row {event_id} never relayed",
                self.from
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The number of rows of `table` now.
    pub async fn count(&self, table: &str) -> i64 {
        count(self.db(), table).await
    }
}

/// Rows per table of the database, but sqlx's own.
async fn row_counts(db: &Db) -> BTreeMap<String, i64> {
    let sql = match db.backend() {
        Backend::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'table' \
             AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations'"
        }
        // information_schema's names are a domain the Any driver does not decode.
        Backend::Postgres => {
            "SELECT CAST(table_name AS TEXT) AS name FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' \
             AND table_name <> '_sqlx_migrations'"
        }
    };
    let tables = sqlx::query(sql)
        .fetch_all(db.pool())
        .await
        .expect("list the tables");
    let mut rows = BTreeMap::new();
    for table in tables {
        let name: String = table.get("name");
        let n = count(db, &name).await;
        rows.insert(name, n);
    }
    rows
}

async fn count(db: &Db, table: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
        .fetch_one(db.pool())
        .await
        .unwrap_or_else(|e| panic!("count the rows of {table}: {e}"))
}
