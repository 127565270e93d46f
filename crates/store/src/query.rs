//! Listing queries with optional filters, written once for both backends.

use sqlx::any::{AnyArguments, AnyRow};
use sqlx::{AnyConnection, Arguments};

use crate::StoreError;

/// A dynamic WHERE clause with numbered placeholders, for list filters.
#[derive(Default)]
pub struct Filter {
    clauses: Vec<String>,
    args: AnyArguments,
    n: usize,
}

impl Filter {
    /// Adds `clause`, in which `?` stands for the next placeholder, bound to
    /// `value`; `$N` in the same clause repeats that placeholder.
    pub fn add<T>(&mut self, clause: &str, value: T) -> Result<(), StoreError>
    where
        T: for<'q> sqlx::Encode<'q, sqlx::Any> + sqlx::Type<sqlx::Any> + Send,
    {
        self.n += 1;
        let placeholder = format!("${}", self.n);
        self.clauses.push(
            clause
                .replace('?', &placeholder)
                .replace("$N", &placeholder),
        );
        self.args
            .add(value)
            .map_err(|e| StoreError::Config(format!("cannot bind a filter value: {e}")))
    }

    /// Adds a clause with no value.
    pub fn raw(&mut self, clause: &str) {
        self.clauses.push(clause.to_string());
    }

    fn sql(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.clauses.join(" AND "))
        }
    }
}

/// Runs `SELECT {columns} FROM {table} {filter} ORDER BY id LIMIT {limit}`.
/// Only constant table and column names and numbered placeholders are
/// formatted into the text; every value is bound.
pub async fn select_page(
    conn: &mut AnyConnection,
    table: &str,
    columns: &str,
    filter: Filter,
    limit: usize,
) -> Result<Vec<AnyRow>, StoreError> {
    let sql = format!(
        "SELECT {columns} FROM {table}{} ORDER BY id LIMIT {limit}",
        filter.sql()
    );
    Ok(sqlx::query_with(sqlx::AssertSqlSafe(sql), filter.args)
        .fetch_all(conn)
        .await?)
}
