//! Tests of reemploi-store against real SQLite files and a real PostgreSQL
//! server (DATABASE_URL, e.g. postgres://postgres@127.0.0.1:5432/postgres).

// Test helpers (not only #[test] fns) may panic: a failure is what they report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use reemploi_store::{Backend, Db, DbOptions, Migrations, StoreError, now_millis};
use reemploi_testing::db::{self as testing, TestDb};
use sqlx::Row;

fn migrations() -> Migrations {
    Migrations {
        sqlite: sqlx::migrate!("tests/migrations/sqlite"),
        postgres: sqlx::migrate!("tests/migrations/postgres"),
    }
}

async fn migrated(backend: Backend) -> TestDb {
    let t = testing::fresh(backend).await;
    t.db.migrate(&migrations()).await.expect("migrate");
    t
}

async fn insert_parent(db: &Db, id: &str, name: &str) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO parents (id, name) VALUES ($1, $2)")
        .bind(id)
        .bind(name)
        .execute(db.pool())
        .await?;
    Ok(())
}

async fn insert_child(db: &Db, id: &str, parent: &str, qty: i64) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO children (id, parent_id, qty, data, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id)
    .bind(parent)
    .bind(qty)
    .bind(vec![0u8, 1, 2, 255])
    .bind(now_millis())
    .execute(db.pool())
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connects_and_migrates_on_both_backends_idempotently() {
    for backend in Backend::ALL {
        let t = migrated(backend).await;
        assert_eq!(t.db.backend(), backend);
        // Running the same migrations again is a no-op, as at every service start.
        t.db.migrate(&migrations()).await.expect("second migrate");
        // A second pool on the same URL sees the schema.
        let other = Db::connect(&t.url).await.expect("reconnect");
        let n: i64 = sqlx::query("SELECT COUNT(*) FROM parents")
            .fetch_one(other.pool())
            .await
            .unwrap()
            .get(0);
        assert_eq!(n, 0, "{backend:?}");
        other.close().await;
        let dbg = format!("{:?}", t.db);
        assert!(!dbg.contains("://"), "Debug must not show the URL: {dbg}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_round_trip_on_both_backends() {
    for backend in Backend::ALL {
        let t = migrated(backend).await;
        insert_parent(&t.db, "p1", "Ressourcerie").await.unwrap();
        insert_child(&t.db, "c1", "p1", 9_000_000_000)
            .await
            .unwrap();
        let row = sqlx::query("SELECT qty, data, created_at FROM children WHERE id = $1")
            .bind("c1")
            .fetch_one(t.db.pool())
            .await
            .unwrap();
        let qty: i64 = row.get(0);
        let data: Vec<u8> = row.get(1);
        let created_at: i64 = row.get(2);
        assert_eq!(qty, 9_000_000_000, "{backend:?}");
        assert_eq!(data, vec![0u8, 1, 2, 255], "{backend:?}");
        assert!((now_millis() - created_at).abs() < 60_000, "{backend:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unique_violation_is_interpreted_on_both_backends() {
    for backend in Backend::ALL {
        let t = migrated(backend).await;
        insert_parent(&t.db, "p1", "Emmaüs").await.unwrap();

        let err = insert_parent(&t.db, "p2", "Emmaüs").await.unwrap_err();
        let StoreError::UniqueViolation { constraint } = err else {
            panic!("{backend:?}: expected UniqueViolation, got {err:?}");
        };
        let constraint = constraint.unwrap_or_default();
        match backend {
            Backend::Postgres => assert_eq!(constraint, "parents_name_key"),
            Backend::Sqlite => assert_eq!(constraint, "parents.name"),
        }

        // A primary key clash is a unique violation too.
        let err = insert_parent(&t.db, "p1", "Other").await.unwrap_err();
        assert!(
            matches!(err, StoreError::UniqueViolation { .. }),
            "{backend:?}: {err:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_key_and_check_violations_are_interpreted_on_both_backends() {
    for backend in Backend::ALL {
        let t = migrated(backend).await;
        let err = insert_child(&t.db, "c1", "missing", 1).await.unwrap_err();
        let StoreError::ForeignKeyViolation { constraint } = err else {
            panic!("{backend:?}: expected ForeignKeyViolation, got {err:?}");
        };
        if backend == Backend::Postgres {
            assert_eq!(constraint.as_deref(), Some("children_parent_fk"));
        }

        insert_parent(&t.db, "p1", "Envie").await.unwrap();
        let err = insert_child(&t.db, "c1", "p1", 0).await.unwrap_err();
        let StoreError::CheckViolation { constraint } = err else {
            panic!("{backend:?}: expected CheckViolation, got {err:?}");
        };
        assert_eq!(constraint.as_deref(), Some("children_qty_positive"));
        insert_child(&t.db, "c1", "p1", 1).await.unwrap();
    }
}

/// Read-then-write transactions racing on SQLite: with BEGIN IMMEDIATE none
/// fails with SQLITE_BUSY(_SNAPSHOT) and no increment is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn begin_write_serialises_concurrent_read_then_write_on_sqlite() {
    let t = migrated(Backend::Sqlite).await;
    sqlx::query("INSERT INTO counters (name, value) VALUES ('n', 0)")
        .execute(t.db.pool())
        .await
        .unwrap();
    let db = Arc::new(t.db.clone());
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            let mut tx = db.begin_write().await?;
            let value: i64 = sqlx::query("SELECT value FROM counters WHERE name = 'n'")
                .fetch_one(&mut *tx)
                .await?
                .get(0);
            // Give other tasks a chance to interleave between read and write.
            tokio::task::yield_now().await;
            sqlx::query("UPDATE counters SET value = $1 WHERE name = 'n'")
                .bind(value + 1)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok::<(), StoreError>(())
        }));
    }
    for task in tasks {
        task.await.unwrap().expect("no busy error");
    }
    let value: i64 = sqlx::query("SELECT value FROM counters WHERE name = 'n'")
        .fetch_one(t.db.pool())
        .await
        .unwrap()
        .get(0);
    assert_eq!(value, 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_file_is_created_in_wal_mode_with_foreign_keys() {
    let dir = tempfile::tempdir().unwrap();
    let url = Db::sqlite_url(&dir.path().join("data"), "inventory").unwrap();
    let db = Db::connect(&url).await.unwrap();
    assert!(dir.path().join("data").join("inventory.db").is_file());
    let mode: String = sqlx::query("PRAGMA journal_mode")
        .fetch_one(db.pool())
        .await
        .unwrap()
        .get(0);
    assert_eq!(mode.to_lowercase(), "wal");
    let fk: i64 = sqlx::query("PRAGMA foreign_keys")
        .fetch_one(db.pool())
        .await
        .unwrap()
        .get(0);
    assert_eq!(fk, 1);
    let busy: i64 = sqlx::query("PRAGMA busy_timeout")
        .fetch_one(db.pool())
        .await
        .unwrap()
        .get(0);
    assert_eq!(busy, 10_000);
    db.close().await;

    // The `sqlite:path` form opens the same file.
    let path = dir.path().join("data").join("inventory.db");
    let db = Db::connect(&format!("sqlite:{}", path.display()))
        .await
        .unwrap();
    db.close().await;
}

#[tokio::test]
async fn bad_urls_are_config_errors_without_credentials() {
    for url in [
        "mysql://root:s3cret@db/x",
        "s3cret",
        "",
        "http://u:s3cret@h/",
    ] {
        let err = Db::connect(url).await.unwrap_err();
        assert!(matches!(err, StoreError::Config(_)), "{url}: {err:?}");
        assert!(!err.to_string().contains("s3cret"), "{err}");
    }
}

#[tokio::test]
async fn unreachable_postgres_is_unavailable() {
    // Bind then drop a listener: a port nothing listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let opts = DbOptions {
        acquire_timeout: std::time::Duration::from_secs(1),
        ..DbOptions::default()
    };
    let started = std::time::Instant::now();
    let err = Db::connect_with(&format!("postgres://u:s3cret@127.0.0.1:{port}/x"), opts)
        .await
        .unwrap_err();
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(err.is_retryable());
    assert!(!err.to_string().contains("s3cret"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_share_one_postgres_database_in_schemas_of_their_own() {
    let t = testing::fresh(Backend::Postgres).await;
    let in_schema = |schema: &str| DbOptions {
        schema: Some(schema.to_string()),
        ..DbOptions::default()
    };
    let a = Db::connect_with(&t.url, in_schema("alpha")).await.unwrap();
    let b = Db::connect_with(&t.url, in_schema("beta")).await.unwrap();
    // The same migrations (same table names, same migration versions) twice.
    a.migrate(&migrations()).await.unwrap();
    b.migrate(&migrations()).await.unwrap();
    insert_parent(&a, "p1", "only in alpha").await.unwrap();
    let count = |db: Db| async move {
        sqlx::query("SELECT COUNT(*) AS n FROM parents")
            .fetch_one(db.pool())
            .await
            .unwrap()
            .get::<i64, _>("n")
    };
    assert_eq!(count(a.clone()).await, 1);
    assert_eq!(count(b.clone()).await, 0, "beta does not see alpha's rows");
    let bad = Db::connect_with(&t.url, in_schema("no; drop")).await;
    assert!(matches!(bad, Err(StoreError::Config(_))));
}
