//! Impact's SQL: its projections (written in aggregate-version order), the
//! declarations, and the contributions with their monthly sums.

use reemploi_runtime::error::ApiError;
use reemploi_runtime::names::{ClaimName, Id, LotName};
use reemploi_store::query::{upsert_newer_keyed_sql, upsert_newer_sql};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use uuid::Uuid;

use crate::error::Result;
use crate::model::{
    Claim, Contribution, Hours, Lot, Outcome, Partner, Site, SiteReuse, VALUE_COLUMNS, Values,
};
use impact_pb::{Activity, OutcomeKind};
use reemploi_proto::impact as impact_pb;

const SITE_COLUMNS: &str = "id, display_name, owner_org, quartier, commune, insee_code, \
    latitude, longitude, version";
const LOT_COLUMNS: &str = "id, site_id, reference, designation, category, unit, quantity_milli, \
    estimated_mass_g, waste_code, hazardous, deleted, version";
const PARTNER_COLUMNS: &str = "id, display_name, latitude, longitude, version";
const CLAIM_COLUMNS: &str = "id, lot_id, site_id, partner_id, status, quantity_milli, \
    weighed_mass_g, handed_over_at, version";
const OUTCOME_COLUMNS: &str = "id, claim_id, partner_id, kind, quantity_milli, mass_g, \
    outcome_at, destination, siret, created_at";
const HOURS_COLUMNS: &str =
    "id, claim_id, partner_id, activity, minutes, people, work_at, created_at";

/// Takes, on PostgreSQL, the lock every writer of the figures holds until
/// its commit, so that two contributions of one claim are never computed
/// from the same old one. SQLite's write transactions are serial already.
pub async fn serialize(conn: &mut AnyConnection, db: &reemploi_store::Db) -> Result<()> {
    if db.backend() == reemploi_store::Backend::Postgres {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(db.lock_key("impact figures"))
            .execute(conn)
            .await?;
    }
    Ok(())
}

pub(crate) fn id_col(row: &AnyRow, col: &str) -> Result<Id> {
    let s: String = row.try_get(col)?;
    Id::parse(&s).ok_or_else(|| ApiError::Internal(format!("stored {col}: {s:?}")).into())
}

pub(crate) fn uuid_col(row: &AnyRow, col: &str) -> Result<Uuid> {
    let s: String = row.try_get(col)?;
    Uuid::try_parse(&s).map_err(|e| ApiError::Internal(format!("stored {col}: {e}")).into())
}

async fn upsert(
    conn: &mut AnyConnection,
    sql: String,
    bind: impl FnOnce(Query) -> Query,
) -> Result<bool> {
    let q = bind(sqlx::query(sqlx::AssertSqlSafe(sql)));
    Ok(q.execute(&mut *conn).await?.rows_affected() == 1)
}

type Query = sqlx::query::Query<'static, sqlx::Any, sqlx::any::AnyArguments>;

/// Stores a site if newer than the one held; whether it was applied.
pub async fn upsert_site(conn: &mut AnyConnection, s: &Site) -> Result<bool> {
    let s = s.clone();
    upsert(conn, upsert_newer_sql("sites", SITE_COLUMNS), |q| {
        q.bind(s.id.to_string())
            .bind(s.display_name)
            .bind(s.owner_org)
            .bind(s.quartier)
            .bind(s.commune)
            .bind(s.insee_code)
            .bind(s.latitude)
            .bind(s.longitude)
            .bind(s.version)
    })
    .await
}

/// Stores a lot if newer than the one held; whether it was applied.
pub async fn upsert_lot(conn: &mut AnyConnection, l: &Lot) -> Result<bool> {
    let l = l.clone();
    // Keyed by id and site: a lot's id is unique within its site only.
    upsert(conn, upsert_newer_keyed_sql("lots", LOT_COLUMNS, 2), |q| {
        q.bind(l.id.to_string())
            .bind(l.site_id.to_string())
            .bind(l.reference)
            .bind(l.designation)
            .bind(l.category)
            .bind(l.unit.to_string())
            .bind(l.quantity_milli)
            .bind(l.estimated_mass_g)
            .bind(l.waste_code)
            .bind(i64::from(l.hazardous))
            .bind(i64::from(l.deleted))
            .bind(l.version)
    })
    .await
}

/// Stores a partner if newer than the one held; whether it was applied.
pub async fn upsert_partner(conn: &mut AnyConnection, p: &Partner) -> Result<bool> {
    let p = p.clone();
    upsert(conn, upsert_newer_sql("partners", PARTNER_COLUMNS), |q| {
        q.bind(p.id.to_string())
            .bind(p.display_name)
            .bind(p.latitude)
            .bind(p.longitude)
            .bind(p.version)
    })
    .await
}

/// Stores a claim if newer than the one held; whether it was applied.
pub async fn upsert_claim(conn: &mut AnyConnection, c: &Claim) -> Result<bool> {
    let c = c.clone();
    upsert(conn, upsert_newer_sql("claims", CLAIM_COLUMNS), |q| {
        q.bind(c.id.to_string())
            .bind(c.lot_id.to_string())
            .bind(c.site_id.to_string())
            .bind(c.partner_id.to_string())
            .bind(c.status)
            .bind(c.quantity_milli)
            .bind(c.weighed_mass_g)
            .bind(c.handed_over_at)
            .bind(c.version)
    })
    .await
}

async fn one(
    conn: &mut AnyConnection,
    columns: &str,
    table: &str,
    id: impl ToString,
) -> Result<Option<AnyRow>> {
    let sql = format!("SELECT {columns} FROM {table} WHERE id = $1");
    Ok(sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id.to_string())
        .fetch_optional(&mut *conn)
        .await?)
}

/// The site held, if any.
pub async fn site(conn: &mut AnyConnection, id: Id) -> Result<Option<Site>> {
    one(conn, SITE_COLUMNS, "sites", id)
        .await?
        .map(|r| site_row(&r))
        .transpose()
}

/// The lot held, if any.
pub async fn lot(conn: &mut AnyConnection, name: LotName) -> Result<Option<Lot>> {
    let sql = format!("SELECT {LOT_COLUMNS} FROM lots WHERE site_id = $1 AND id = $2");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(name.site.to_string())
        .bind(name.lot.to_string())
        .fetch_optional(&mut *conn)
        .await?
        .map(|r| lot_row(&r))
        .transpose()
}

/// The partner held, if any.
pub async fn partner(conn: &mut AnyConnection, id: Uuid) -> Result<Option<Partner>> {
    one(conn, PARTNER_COLUMNS, "partners", id)
        .await?
        .map(|r| partner_row(&r))
        .transpose()
}

/// The claim held, if any.
pub async fn claim(conn: &mut AnyConnection, id: Uuid) -> Result<Option<Claim>> {
    one(conn, CLAIM_COLUMNS, "claims", id)
        .await?
        .map(|r| claim_row(&r))
        .transpose()
}

/// Whose claims: a site's, a lot's or a partner's.
#[derive(Debug, Clone, Copy)]
pub enum Of {
    /// A site's.
    Site(Id),
    /// A lot's (its id is unique within its site only).
    Lot(LotName),
    /// A partner's.
    Partner(Uuid),
}

/// Ids of the claims of `of`.
pub async fn claims_by(conn: &mut AnyConnection, of: Of) -> Result<Vec<Uuid>> {
    let (clause, values) = match of {
        Of::Site(id) => ("site_id = $1", vec![id.to_string()]),
        Of::Lot(l) => (
            "site_id = $1 AND lot_id = $2",
            vec![l.site.to_string(), l.lot.to_string()],
        ),
        Of::Partner(id) => ("partner_id = $1", vec![id.to_string()]),
    };
    let sql = format!("SELECT id FROM claims WHERE {clause} ORDER BY id");
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for v in values {
        q = q.bind(v);
    }
    let rows = q.fetch_all(&mut *conn).await?;
    rows.iter().map(|r| uuid_col(r, "id")).collect()
}

/// The claim whose hand-over came first on a lot (the lot counts there).
pub async fn first_handover(conn: &mut AnyConnection, lot: LotName) -> Result<Option<Uuid>> {
    let row = sqlx::query(
        "SELECT id FROM claims WHERE lot_id = $1 AND site_id = $2 AND status IN ('handed_over', 'confirmed') \
         AND handed_over_at IS NOT NULL ORDER BY handed_over_at, id LIMIT 1",
    )
    .bind(lot.lot.to_string())
    .bind(lot.site.to_string())
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|r| uuid_col(&r, "id")).transpose()
}

/// The lots of a site, by reference then id.
pub async fn lots_of_site(conn: &mut AnyConnection, site: Id) -> Result<Vec<Lot>> {
    let sql = format!(
        "SELECT {LOT_COLUMNS} FROM lots WHERE site_id = $1 AND deleted = 0 ORDER BY reference, id"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(site.to_string())
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(lot_row).collect()
}

/// The claims of a site.
pub async fn claims_of_site(conn: &mut AnyConnection, site: Id) -> Result<Vec<Claim>> {
    let sql = format!("SELECT {CLAIM_COLUMNS} FROM claims WHERE site_id = $1 ORDER BY id");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(site.to_string())
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(claim_row).collect()
}

fn site_row(r: &AnyRow) -> Result<Site> {
    Ok(Site {
        id: id_col(r, "id")?,
        display_name: r.try_get("display_name")?,
        owner_org: r.try_get("owner_org")?,
        quartier: r.try_get("quartier")?,
        commune: r.try_get("commune")?,
        insee_code: r.try_get("insee_code")?,
        latitude: r.try_get("latitude")?,
        longitude: r.try_get("longitude")?,
        version: r.try_get("version")?,
    })
}

fn lot_row(r: &AnyRow) -> Result<Lot> {
    let unit: String = r.try_get("unit")?;
    Ok(Lot {
        id: id_col(r, "id")?,
        site_id: id_col(r, "site_id")?,
        reference: r.try_get("reference")?,
        designation: r.try_get("designation")?,
        category: r.try_get("category")?,
        unit: unit.parse().unwrap_or_default(),
        quantity_milli: r.try_get("quantity_milli")?,
        estimated_mass_g: r.try_get("estimated_mass_g")?,
        waste_code: r.try_get("waste_code")?,
        hazardous: r.try_get::<i64, _>("hazardous")? != 0,
        deleted: r.try_get::<i64, _>("deleted")? != 0,
        version: r.try_get("version")?,
    })
}

fn partner_row(r: &AnyRow) -> Result<Partner> {
    Ok(Partner {
        id: uuid_col(r, "id")?,
        display_name: r.try_get("display_name")?,
        latitude: r.try_get("latitude")?,
        longitude: r.try_get("longitude")?,
        version: r.try_get("version")?,
    })
}

fn claim_row(r: &AnyRow) -> Result<Claim> {
    Ok(Claim {
        id: uuid_col(r, "id")?,
        lot_id: id_col(r, "lot_id")?,
        site_id: id_col(r, "site_id")?,
        partner_id: uuid_col(r, "partner_id")?,
        status: r.try_get("status")?,
        quantity_milli: r.try_get("quantity_milli")?,
        weighed_mass_g: r.try_get("weighed_mass_g")?,
        handed_over_at: r.try_get("handed_over_at")?,
        version: r.try_get("version")?,
    })
}

/// Records a declared outcome.
pub async fn insert_outcome(conn: &mut AnyConnection, o: &Outcome) -> Result<()> {
    let sql = format!(
        "INSERT INTO outcomes ({OUTCOME_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(o.id.to_string())
        .bind(o.claim.claim.to_string())
        .bind(o.partner_id.to_string())
        .bind(o.kind.as_str_name())
        .bind(o.quantity_milli)
        .bind(o.mass_g)
        .bind(o.outcome_at)
        .bind(o.destination.clone())
        .bind(o.siret.clone())
        .bind(o.created_at)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Records declared insertion work.
pub async fn insert_hours(conn: &mut AnyConnection, h: &Hours) -> Result<()> {
    let sql =
        format!("INSERT INTO hours ({HOURS_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(h.id.to_string())
        .bind(h.claim.claim.to_string())
        .bind(h.partner_id.to_string())
        .bind(h.activity.as_str_name())
        .bind(h.minutes)
        .bind(h.people)
        .bind(h.work_at)
        .bind(h.created_at)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Which declarations to read.
#[derive(Debug, Clone, Copy)]
pub enum Scope {
    /// Every one.
    All,
    /// One claim's.
    Claim(Uuid),
    /// A partner's.
    Partner(Uuid),
    /// Those on a site's claims.
    Site(Id),
}

impl Scope {
    fn clause(self) -> (&'static str, Option<String>) {
        match self {
            Scope::All => ("", None),
            Scope::Claim(id) => (" WHERE d.claim_id = $1", Some(id.to_string())),
            Scope::Partner(id) => (" WHERE d.partner_id = $1", Some(id.to_string())),
            Scope::Site(id) => (" WHERE c.site_id = $1", Some(id.to_string())),
        }
    }
}

async fn declarations(
    conn: &mut AnyConnection,
    table: &str,
    columns: &str,
    scope: Scope,
) -> Result<Vec<AnyRow>> {
    let (clause, value) = scope.clause();
    let cols: Vec<String> = columns
        .split(',')
        .map(|c| format!("d.{}", c.trim()))
        .collect();
    let sql = format!(
        "SELECT {}, c.lot_id AS lot_id, c.site_id AS site_id FROM {table} d \
         JOIN claims c ON c.id = d.claim_id{clause} ORDER BY d.id",
        cols.join(", ")
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    if let Some(v) = value {
        q = q.bind(v);
    }
    Ok(q.fetch_all(&mut *conn).await?)
}

fn claim_of(r: &AnyRow) -> Result<ClaimName> {
    Ok(ClaimName {
        lot: LotName {
            site: id_col(r, "site_id")?,
            lot: id_col(r, "lot_id")?,
        },
        claim: uuid_col(r, "claim_id")?,
    })
}

/// Outcomes declared in `scope`, oldest first.
pub async fn outcomes(conn: &mut AnyConnection, scope: Scope) -> Result<Vec<Outcome>> {
    let rows = declarations(conn, "outcomes", OUTCOME_COLUMNS, scope).await?;
    rows.iter()
        .map(|r| {
            let kind: String = r.try_get("kind")?;
            Ok(Outcome {
                id: uuid_col(r, "id")?,
                claim: claim_of(r)?,
                partner_id: uuid_col(r, "partner_id")?,
                kind: OutcomeKind::from_str_name(&kind).unwrap_or_default(),
                quantity_milli: r.try_get("quantity_milli")?,
                mass_g: r.try_get("mass_g")?,
                outcome_at: r.try_get("outcome_at")?,
                destination: r.try_get("destination")?,
                siret: r.try_get("siret")?,
                created_at: r.try_get("created_at")?,
            })
        })
        .collect()
}

/// Insertion work declared in `scope`, oldest first.
pub async fn hours(conn: &mut AnyConnection, scope: Scope) -> Result<Vec<Hours>> {
    let rows = declarations(conn, "hours", HOURS_COLUMNS, scope).await?;
    rows.iter()
        .map(|r| {
            let activity: String = r.try_get("activity")?;
            Ok(Hours {
                id: uuid_col(r, "id")?,
                claim: claim_of(r)?,
                partner_id: uuid_col(r, "partner_id")?,
                activity: Activity::from_str_name(&activity).unwrap_or_default(),
                minutes: r.try_get("minutes")?,
                people: r.try_get("people")?,
                work_at: r.try_get("work_at")?,
                created_at: r.try_get("created_at")?,
            })
        })
        .collect()
}

fn values_of(r: &AnyRow) -> Result<Values> {
    let mut a = [0i64; 13];
    for (slot, col) in a.iter_mut().zip(VALUE_COLUMNS) {
        *slot = r.try_get(col)?;
    }
    Ok(Values::from_array(a))
}

/// A claim's recorded contribution, if it has one.
pub async fn contribution(conn: &mut AnyConnection, claim: Uuid) -> Result<Option<Contribution>> {
    let sql = format!(
        "SELECT handed_over_at, month, site_id, partner_id, category, {} \
         FROM contributions WHERE claim_id = $1",
        VALUE_COLUMNS.join(", ")
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(claim.to_string())
        .fetch_optional(&mut *conn)
        .await?;
    row.map(|r| {
        Ok(Contribution {
            handed_over_at: r.try_get("handed_over_at")?,
            month: r.try_get("month")?,
            site_id: id_col(&r, "site_id")?,
            partner_id: uuid_col(&r, "partner_id")?,
            category: r.try_get("category")?,
            values: values_of(&r)?,
        })
    })
    .transpose()
}

/// Replaces a claim's recorded contribution (`None`: it has none), and
/// moves the monthly sums by the difference.
pub async fn replace_contribution(
    conn: &mut AnyConnection,
    claim: Uuid,
    old: Option<&Contribution>,
    new: Option<&Contribution>,
) -> Result<()> {
    if let Some(old) = old {
        add_to_figures(conn, old, -1).await?;
        sqlx::query("DELETE FROM contributions WHERE claim_id = $1")
            .bind(claim.to_string())
            .execute(&mut *conn)
            .await?;
    }
    if let Some(new) = new {
        add_to_figures(conn, new, 1).await?;
        let placeholders: Vec<String> = (7..7 + VALUE_COLUMNS.len())
            .map(|i| format!("${i}"))
            .collect();
        let sql = format!(
            "INSERT INTO contributions (claim_id, handed_over_at, month, site_id, partner_id, \
             category, {}) VALUES ($1, $2, $3, $4, $5, $6, {})",
            VALUE_COLUMNS.join(", "),
            placeholders.join(", ")
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(claim.to_string())
            .bind(new.handed_over_at)
            .bind(new.month.clone())
            .bind(new.site_id.to_string())
            .bind(new.partner_id.to_string())
            .bind(new.category.clone());
        for v in new.values.to_array() {
            q = q.bind(v);
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// The monthly sums, each with its key beyond the month: by category for
/// what needs it, by partner, and by site alone (the fewest rows).
pub const SUMS: [(&str, &[&str]); 3] = [
    ("figures", &["site_id", "partner_id", "category"]),
    ("partner_figures", &["site_id", "partner_id"]),
    ("site_figures", &["site_id"]),
];

async fn add_to_figures(conn: &mut AnyConnection, c: &Contribution, sign: i64) -> Result<()> {
    let cols = VALUE_COLUMNS.join(", ");
    for (table, keys) in SUMS {
        let first = 2 + keys.len();
        let placeholders: Vec<String> = (first..first + VALUE_COLUMNS.len())
            .map(|i| format!("${i}"))
            .collect();
        let key_placeholders: Vec<String> = (2..first).map(|i| format!("${i}")).collect();
        let sets: Vec<String> = VALUE_COLUMNS
            .iter()
            .map(|c| format!("{c} = {table}.{c} + excluded.{c}"))
            .collect();
        let sql = format!(
            "INSERT INTO {table} (month, {keys}, {cols}) VALUES ($1, {}, {}) \
             ON CONFLICT (month, {keys}) DO UPDATE SET {}",
            key_placeholders.join(", "),
            placeholders.join(", "),
            sets.join(", "),
            keys = keys.join(", "),
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(c.month.clone());
        for key in keys {
            q = q.bind(match *key {
                "site_id" => c.site_id.to_string(),
                "partner_id" => c.partner_id.to_string(),
                _ => c.category.clone(),
            });
        }
        for v in c.values.to_array() {
            q = q.bind(sign * v);
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Moves the estimate of a site's category by `delta_g`.
pub async fn add_estimate(
    conn: &mut AnyConnection,
    site: Id,
    category: &str,
    delta_g: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO estimates (site_id, category, estimated_mass_g) VALUES ($1, $2, $3) \
         ON CONFLICT (site_id, category) DO UPDATE \
         SET estimated_mass_g = estimates.estimated_mass_g + excluded.estimated_mass_g",
    )
    .bind(site.to_string())
    .bind(category.to_string())
    .bind(delta_g)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The name of a commune, as a site spells it, from its INSEE code.
pub async fn commune_name(conn: &mut AnyConnection, insee: &str) -> Result<Option<String>> {
    let row =
        sqlx::query("SELECT commune FROM sites WHERE insee_code = $1 AND commune <> '' LIMIT 1")
            .bind(insee.to_string())
            .fetch_optional(&mut *conn)
            .await?;
    Ok(row.map(|r| r.try_get("commune")).transpose()?)
}

const SITE_REUSE_COLUMNS: &str = "id, lot_id, site_id, kind, quantity_milli, mass_g, outcome_at, \
    destination, siret, created_at";

/// Records reuse on a site.
pub async fn insert_site_reuse(conn: &mut AnyConnection, r: &SiteReuse) -> Result<()> {
    let sql = format!(
        "INSERT INTO site_reuse ({SITE_REUSE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(r.id.to_string())
        .bind(r.lot.lot.to_string())
        .bind(r.lot.site.to_string())
        .bind(r.kind.as_str_name())
        .bind(r.quantity_milli)
        .bind(r.mass_g)
        .bind(r.outcome_at)
        .bind(r.destination.clone())
        .bind(r.siret.clone())
        .bind(r.created_at)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The reuse declared on a site, oldest first.
pub async fn site_reuse_rows(conn: &mut AnyConnection, site: Id) -> Result<Vec<SiteReuse>> {
    let sql = format!("SELECT {SITE_REUSE_COLUMNS} FROM site_reuse WHERE site_id = $1 ORDER BY id");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(site.to_string())
        .fetch_all(&mut *conn)
        .await?;
    rows.iter()
        .map(|r| {
            let kind: String = r.try_get("kind")?;
            Ok(SiteReuse {
                id: uuid_col(r, "id")?,
                lot: LotName {
                    site: id_col(r, "site_id")?,
                    lot: id_col(r, "lot_id")?,
                },
                kind: OutcomeKind::from_str_name(&kind).unwrap_or_default(),
                quantity_milli: r.try_get("quantity_milli")?,
                mass_g: r.try_get("mass_g")?,
                outcome_at: r.try_get("outcome_at")?,
                destination: r.try_get("destination")?,
                siret: r.try_get("siret")?,
                created_at: r.try_get("created_at")?,
            })
        })
        .collect()
}

/// The mass reused on a site, per lot (by its id in the site).
pub async fn site_reuse(conn: &mut AnyConnection, site: Id) -> Result<Vec<(Id, i64)>> {
    Ok(site_reuse_rows(conn, site)
        .await?
        .into_iter()
        .map(|r| (r.lot.lot, r.mass_g))
        .collect())
}
