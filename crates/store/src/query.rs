//! Listing queries with optional filters, written once for both backends.

use sqlx::any::{AnyArguments, AnyRow};
use sqlx::{AnyConnection, Arguments};

use crate::StoreError;

/// A value of a key column, bound with the column's type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyValue {
    /// A TEXT column's.
    Text(String),
    /// A BIGINT column's.
    Int(i64),
}

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

    /// Adds `column IN (…)` over `values`; an empty list matches nothing.
    pub fn any_of(&mut self, column: &str, values: &[&str]) -> Result<(), StoreError> {
        if values.is_empty() {
            self.raw("1 = 0");
            return Ok(());
        }
        let mut placeholders = Vec::with_capacity(values.len());
        for v in values {
            self.n += 1;
            placeholders.push(format!("${}", self.n));
            self.args
                .add(v.to_string())
                .map_err(|e| StoreError::Config(format!("cannot bind a filter value: {e}")))?;
        }
        self.clauses
            .push(format!("{column} IN ({})", placeholders.join(", ")));
        Ok(())
    }

    /// Adds `(c1, c2, …) > (v1, v2, …)`: the rows after a key of several
    /// columns, in the order of [`select_kept_keyed`].
    pub fn after_key(&mut self, columns: &[&str], values: &[KeyValue]) -> Result<(), StoreError> {
        let bind = |e| StoreError::Config(format!("cannot bind a filter value: {e}"));
        let mut placeholders = Vec::with_capacity(values.len());
        for v in values {
            self.n += 1;
            placeholders.push(format!("${}", self.n));
            match v {
                KeyValue::Text(t) => self.args.add(t.clone()).map_err(bind)?,
                KeyValue::Int(i) => self.args.add(*i).map_err(bind)?,
            }
        }
        self.clauses.push(format!(
            "({}) > ({})",
            columns.join(", "),
            placeholders.join(", ")
        ));
        Ok(())
    }

    /// Adds the rows after `(time, id)` in newest-first order (`ORDER BY
    /// {time_column} DESC, id DESC`): for tables whose ids need not follow
    /// creation (ids chosen by clients).
    pub fn before_in_time(
        &mut self,
        time_column: &str,
        time: i64,
        id: &str,
    ) -> Result<(), StoreError> {
        let bind = |e| StoreError::Config(format!("cannot bind a filter value: {e}"));
        self.args.add(time).map_err(bind)?;
        self.args.add(id.to_string()).map_err(bind)?;
        let (t, i) = (self.n + 1, self.n + 2);
        self.n += 2;
        self.clauses.push(format!(
            "({time_column} < ${t} OR ({time_column} = ${t} AND id < ${i}))"
        ));
        Ok(())
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

/// The columns of a table's one column list (`"id, name, version"`).
fn columns_of(columns: &str) -> Vec<&str> {
    columns
        .split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect()
}

/// The statement that saves a row of `table`, from its one column list
/// (the first column being its id): an INSERT of every column when there
/// is no `previous` version, or an UPDATE of the same columns in the same
/// placeholder order guarded by that version (`$n+1`), for optimistic
/// concurrency.
pub fn save_sql(table: &str, columns: &str, previous: Option<i64>) -> String {
    save_keyed_sql(table, columns, 1, previous)
}

/// [`save_sql`] for a table whose key is its first `key` columns (a lot's
/// site and id): the UPDATE sets the others, where all of those match.
pub fn save_keyed_sql(table: &str, columns: &str, key: usize, previous: Option<i64>) -> String {
    let columns = columns_of(columns);
    let key = key.max(1);
    match previous {
        None => insert_sql(table, &columns),
        Some(_) => {
            let sets: Vec<String> = columns
                .iter()
                .enumerate()
                .skip(key)
                .map(|(i, c)| format!("{c} = ${}", i + 1))
                .collect();
            let keys: Vec<String> = columns
                .iter()
                .enumerate()
                .take(key)
                .map(|(i, c)| format!("{c} = ${}", i + 1))
                .collect();
            format!(
                "UPDATE {table} SET {} WHERE {} AND version = ${}",
                sets.join(", "),
                keys.join(" AND "),
                columns.len() + 1
            )
        }
    }
}

fn insert_sql(table: &str, columns: &[&str]) -> String {
    let placeholders: Vec<String> = (1..=columns.len()).map(|i| format!("${i}")).collect();
    format!(
        "INSERT INTO {table} ({}) VALUES ({})",
        columns.join(", "),
        placeholders.join(", ")
    )
}

/// The statement that stores a projected row of `table` from its one column
/// list (`id` first, `version` among them): inserted, or replacing the row of
/// the same id only when its `version` is newer. Affects no row otherwise.
pub fn upsert_newer_sql(table: &str, columns: &str) -> String {
    upsert_newer_keyed_sql(table, columns, 1)
}

/// [`upsert_newer_sql`] for a table whose key is its first `key` columns
/// (a lot's id and site).
pub fn upsert_newer_keyed_sql(table: &str, columns: &str, key: usize) -> String {
    let columns = columns_of(columns);
    let key = key.max(1);
    let sets: Vec<String> = columns
        .iter()
        .skip(key)
        .map(|c| format!("{c} = excluded.{c}"))
        .collect();
    format!(
        "{} ON CONFLICT ({}) DO UPDATE SET {} WHERE {table}.version < excluded.version",
        insert_sql(table, &columns),
        columns[..key.min(columns.len())].join(", "),
        sets.join(", ")
    )
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
    select_ordered(conn, table, columns, filter, limit, Order::Oldest).await
}

/// The order of a listing, by id; ids are UUIDv7, so by creation time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Oldest first; the next page's filter is `id > last`.
    Oldest,
    /// Newest first; the next page's filter is `id < last`.
    Newest,
}

impl Order {
    /// The condition on `id` of the page after `last`.
    pub fn after(self) -> &'static str {
        match self {
            Order::Oldest => "id > ?",
            Order::Newest => "id < ?",
        }
    }
}

/// [`select_page`] in the given order.
pub async fn select_ordered(
    conn: &mut AnyConnection,
    table: &str,
    columns: &str,
    filter: Filter,
    limit: usize,
    order: Order,
) -> Result<Vec<AnyRow>, StoreError> {
    let direction = match order {
        Order::Oldest => "",
        Order::Newest => " DESC",
    };
    let sql = format!(
        "SELECT {columns} FROM {table}{} ORDER BY id{direction} LIMIT {limit}",
        filter.sql()
    );
    Ok(sqlx::query_with(sqlx::AssertSqlSafe(sql), filter.args)
        .fetch_all(conn)
        .await?)
}

/// Runs `{head} WHERE … {tail}`: a query of the caller's (aggregates,
/// joins) with this filter's clauses and bound values in between. Only
/// constant SQL may be formatted into `head` and `tail`.
pub async fn select_filtered(
    conn: &mut AnyConnection,
    head: &str,
    filter: Filter,
    tail: &str,
) -> Result<Vec<AnyRow>, StoreError> {
    let sql = format!("{head}{}{tail}", filter.sql());
    Ok(sqlx::query_with(sqlx::AssertSqlSafe(sql), filter.args)
        .fetch_all(conn)
        .await?)
}

impl Filter {
    /// Narrows to rows whose `latitude`/`longitude` columns fall in the box
    /// around a point that holds a circle of `radius_m`; the exact distance
    /// is for the caller to check on what comes back.
    pub fn near(&mut self, latitude: f64, longitude: f64, radius_m: f64) -> Result<(), StoreError> {
        const METRES_PER_DEGREE: f64 = 111_320.0;
        let dlat = radius_m / METRES_PER_DEGREE;
        self.add("latitude >= ?", latitude - dlat)?;
        self.add("latitude <= ?", latitude + dlat)?;
        let cos = latitude.to_radians().cos();
        // Near the poles every longitude is close: no bound.
        if cos > 0.01 {
            let dlon = radius_m / (METRES_PER_DEGREE * cos);
            self.add("longitude >= ?", longitude - dlon)?;
            self.add("longitude <= ?", longitude + dlon)?;
        }
        Ok(())
    }
}

/// Reads rows in id order after `after`, keeps those `keep` accepts, and
/// stops once it holds `size + 1` of them (one more than a page, so the
/// caller knows whether a next page exists) or the table is exhausted.
/// `filter` builds the WHERE clause for rows after a given id.
#[allow(clippy::too_many_arguments)]
pub async fn select_kept<T, E>(
    conn: &mut AnyConnection,
    table: &str,
    columns: &str,
    size: usize,
    after: Option<String>,
    filter: impl Fn(Option<&str>) -> Result<Filter, E>,
    decode: impl Fn(&AnyRow) -> Result<(String, T), E>,
    keep: impl Fn(&T) -> bool,
) -> Result<Vec<(String, T)>, E>
where
    E: From<StoreError>,
{
    let keyed = Keyed {
        table,
        columns,
        order_by: "id",
    };
    select_kept_keyed(conn, keyed, size, after, filter, decode, keep).await
}

/// What [`select_kept_keyed`] reads: the table, its columns, and the
/// columns of its key in order (`site_id, id` for lots, unique per site).
#[derive(Debug, Clone, Copy)]
pub struct Keyed<'a> {
    /// The table.
    pub table: &'a str,
    /// The columns read.
    pub columns: &'a str,
    /// The key's columns, comma-separated, in the order rows are read.
    pub order_by: &'a str,
}

/// [`select_kept`] over a table whose rows are ordered by the key
/// `keyed.order_by`; `filter` builds the rows after a given key (with
/// [`Filter::after_key`]).
pub async fn select_kept_keyed<T, E>(
    conn: &mut AnyConnection,
    keyed: Keyed<'_>,
    size: usize,
    after: Option<String>,
    filter: impl Fn(Option<&str>) -> Result<Filter, E>,
    decode: impl Fn(&AnyRow) -> Result<(String, T), E>,
    keep: impl Fn(&T) -> bool,
) -> Result<Vec<(String, T)>, E>
where
    E: From<StoreError>,
{
    let mut kept = Vec::new();
    let mut cursor = after;
    loop {
        let batch = size + 1;
        let f = filter(cursor.as_deref())?;
        let sql = format!(
            "SELECT {} FROM {}{} ORDER BY {} LIMIT {batch}",
            keyed.columns,
            keyed.table,
            f.sql(),
            keyed.order_by
        );
        let rows = sqlx::query_with(sqlx::AssertSqlSafe(sql), f.args)
            .fetch_all(&mut *conn)
            .await
            .map_err(StoreError::from)?;
        let exhausted = rows.len() < batch;
        for row in &rows {
            let (id, item) = decode(row)?;
            cursor = Some(id.clone());
            if keep(&item) {
                kept.push((id, item));
            }
        }
        if exhausted || kept.len() > size {
            return Ok(kept);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_statements_name_every_key_column() {
        assert_eq!(
            save_keyed_sql("lots", "id, site_id, name, version", 2, Some(1)),
            "UPDATE lots SET name = $3, version = $4 WHERE id = $1 AND site_id = $2 AND version = $5"
        );
        assert_eq!(
            save_sql("sites", "id, name, version", Some(1)),
            "UPDATE sites SET name = $2, version = $3 WHERE id = $1 AND version = $4"
        );
        assert_eq!(
            upsert_newer_keyed_sql("lots", "id, site_id, version", 2),
            "INSERT INTO lots (id, site_id, version) VALUES ($1, $2, $3) ON CONFLICT (id, site_id) \
             DO UPDATE SET version = excluded.version WHERE lots.version < excluded.version"
        );
    }
}
