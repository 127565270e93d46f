//! What structures look for ("recherches"): a category or a family, an
//! optional quantity range, an area, until when, a note. A structure
//! posts, edits and closes its own; a lot published that meets an open
//! need is proposed to its structure first (the breakdown's `need`); site
//! managers read the open needs whose area holds one of their sites.
//!
//! A need is stored open or closed; an open one past its expiry reads as
//! expired and meets no lot, so no sweeper is needed. Rows are never
//! deleted. Each change records its event (`reemploi.matching.need.*`,
//! the need's whole state) in the outbox, in the change's transaction.

use std::collections::HashMap;

use reemploi_domain::category::{self, Category, Family};
use reemploi_domain::geo::GeoPoint;
use reemploi_domain::quantity::Unit;
use reemploi_events::Message;
use reemploi_matching_engine::index::Index;
use reemploi_matching_engine::profile::LotProfile;
use reemploi_matching_engine::score::Scored;
use reemploi_proto::events::envelope::Payload;
use reemploi_proto::matching as pb;
use reemploi_proto::types as tpb;
use reemploi_runtime::envelope;
use reemploi_runtime::error::ApiError;
use reemploi_runtime::validation::{Check, Violation};
use reemploi_runtime::wire::{checked_millis, etag, millis_ts, point_proto};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use uuid::Uuid;

use crate::error::Result;
use crate::events::PRODUCER;
use crate::model::{Lot, uuid_col};

mod api;

/// Subject of a need posted.
pub const CREATED: &str = "reemploi.matching.need.created";
/// Subject of a need changed.
pub const UPDATED: &str = "reemploi.matching.need.updated";
/// Subject of a need closed.
pub const CLOSED: &str = "reemploi.matching.need.closed";

/// Longest note, in characters.
pub const MAX_NOTE: usize = 2000;
/// Widest area, in kilometres of radius.
pub const MAX_RADIUS_KM: i32 = 200;
/// Longest a need may be looked for: a year and a day.
pub const MAX_LIFETIME_MS: i64 = 366 * 24 * 3600 * 1000;

/// Degrees of latitude that [`MAX_RADIUS_KM`] spans at most (a degree is
/// some 111.2 km everywhere): the box a lookup narrows to before it
/// measures distances.
const MAX_RADIUS_DEGREES: f64 = 1.82;

const COLUMNS: &str = "id, partner_id, category, family, unit, min_milli, max_milli, latitude, \
    longitude, radius_km, expire_at, note, state, created_at, updated_at, version";

/// How much is looked for, in thousandths of `unit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub unit: Unit,
    pub min_milli: Option<i64>,
    pub max_milli: Option<i64>,
}

/// What a structure says of a need, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Fields {
    /// The category looked for; `None` when a whole family is.
    pub category: Option<&'static Category>,
    /// The family: the category's, or the one looked for.
    pub family: Family,
    pub range: Option<Range>,
    pub center: GeoPoint,
    pub radius_km: i32,
    pub expire_at: i64,
    pub note: String,
}

/// A need as matching keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct Need {
    pub id: Uuid,
    pub partner_id: Uuid,
    pub fields: Fields,
    pub closed: bool,
    pub created_at: i64,
    pub updated_at: i64,
    pub version: i64,
}

/// Where a need stands at some instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Open,
    Closed,
    Expired,
}

impl State {
    fn to_proto(self) -> pb::NeedState {
        match self {
            State::Open => pb::NeedState::Open,
            State::Closed => pb::NeedState::Closed,
            State::Expired => pb::NeedState::Expired,
        }
    }

    /// The state a request filters on: open when unspecified.
    fn from_request(value: i32) -> std::result::Result<State, Violation> {
        match pb::NeedState::try_from(value) {
            Ok(pb::NeedState::Unspecified | pb::NeedState::Open) => Ok(State::Open),
            Ok(pb::NeedState::Closed) => Ok(State::Closed),
            Ok(pb::NeedState::Expired) => Ok(State::Expired),
            Err(_) => Err(Violation::new("state", format!("unknown state {value}"))),
        }
    }
}

/// The unit of a quantity as the wire gives it.
fn unit_of(q: &tpb::Quantity) -> Option<Unit> {
    match tpb::Unit::try_from(q.unit).ok()? {
        tpb::Unit::Unspecified => None,
        tpb::Unit::Piece => Some(Unit::Piece),
        tpb::Unit::Metre => Some(Unit::Metre),
        tpb::Unit::SquareMetre => Some(Unit::SquareMetre),
        tpb::Unit::CubicMetre => Some(Unit::CubicMetre),
        tpb::Unit::Kilogram => Some(Unit::Kilogram),
        tpb::Unit::Tonne => Some(Unit::Tonne),
        tpb::Unit::Litre => Some(Unit::Litre),
    }
}

/// The wire number of a unit, as lots store theirs.
fn unit_number(u: Unit) -> i32 {
    match u {
        Unit::Piece => tpb::Unit::Piece as i32,
        Unit::Metre => tpb::Unit::Metre as i32,
        Unit::SquareMetre => tpb::Unit::SquareMetre as i32,
        Unit::CubicMetre => tpb::Unit::CubicMetre as i32,
        Unit::Kilogram => tpb::Unit::Kilogram as i32,
        Unit::Tonne => tpb::Unit::Tonne as i32,
        Unit::Litre => tpb::Unit::Litre as i32,
    }
}

fn unit_from_number(n: i32) -> Option<Unit> {
    unit_of(&tpb::Quantity { unit: n, milli: 0 })
}

/// One bound of the range: at least 0, whole pieces for pieces.
fn bound(c: &mut Check, field: &str, q: &tpb::Quantity) -> Option<(Unit, i64)> {
    let Some(unit) = unit_of(q) else {
        c.fail(&format!("{field}.unit"), "required, a known unit");
        return None;
    };
    if q.milli < 0 {
        c.fail(&format!("{field}.milli"), "must not be negative");
        return None;
    }
    if unit == Unit::Piece && q.milli % 1000 != 0 {
        c.fail(&format!("{field}.milli"), "pieces are counted whole");
        return None;
    }
    Some((unit, q.milli))
}

/// The quantity range of a need, if it gives one.
fn range(c: &mut Check, n: &pb::Need) -> Option<Range> {
    let min = n
        .min_quantity
        .as_ref()
        .and_then(|q| bound(c, "min_quantity", q));
    let max = n
        .max_quantity
        .as_ref()
        .and_then(|q| bound(c, "max_quantity", q));
    match (min, max) {
        (None, None) => None,
        (Some((unit, m)), None) => Some(Range {
            unit,
            min_milli: Some(m),
            max_milli: None,
        }),
        (None, Some((unit, m))) => Some(Range {
            unit,
            min_milli: None,
            max_milli: Some(m),
        }),
        (Some((u1, lo)), Some((u2, hi))) => {
            if u1 != u2 {
                c.fail("max_quantity.unit", "must be min_quantity's unit");
            } else if hi < lo {
                c.fail("max_quantity.milli", "must not be below min_quantity");
            }
            Some(Range {
                unit: u1,
                min_milli: Some(lo),
                max_milli: Some(hi),
            })
        }
    }
}

/// The category or family looked for: exactly one of the two.
fn what(c: &mut Check, n: &pb::Need) -> Option<(Option<&'static Category>, Family)> {
    match (n.category.trim(), n.family.trim()) {
        ("", "") => {
            c.fail("category", "name a category or a family");
            None
        }
        (code, "") => c.ok(category::parse(code)).map(|k| (Some(k), k.family)),
        ("", family) => c.ok(Family::parse(family)).map(|f| (None, f)),
        (_, _) => {
            c.fail("family", "name a category or a family, not both");
            None
        }
    }
}

impl Fields {
    /// Validates a need as a request carries it, under `prefix` (`need`);
    /// `home` is where the structure is, the centre when none is given.
    pub fn validate(
        n: &pb::Need,
        prefix: &str,
        home: Option<GeoPoint>,
        now: i64,
    ) -> std::result::Result<Fields, Vec<Violation>> {
        let mut c = Check::new(prefix);
        let what = what(&mut c, n);
        let range = range(&mut c, n);
        let center = match (&n.center, home) {
            (Some(p), _) => {
                let mut at = Check::new(format!("{prefix}.center"));
                let point = at.ok(GeoPoint::new(p.latitude, p.longitude));
                if let Err(v) = at.finish() {
                    c.extend(v);
                }
                point
            }
            (None, Some(home)) => Some(home),
            (None, None) => {
                c.fail(
                    "center",
                    "required: matching does not know where the structure is",
                );
                None
            }
        };
        if !(1..=MAX_RADIUS_KM).contains(&n.radius_km) {
            c.fail("radius_km", format!("from 1 to {MAX_RADIUS_KM} km"));
        }
        let expire_at = match n.expire_time.as_ref().map(checked_millis) {
            None => {
                c.fail("expire_time", "required");
                None
            }
            Some(Err(e)) => {
                c.fail("expire_time", e);
                None
            }
            Some(Ok(t)) if t <= now => {
                c.fail("expire_time", "must be in the future");
                None
            }
            Some(Ok(t)) if t > now.saturating_add(MAX_LIFETIME_MS) => {
                c.fail("expire_time", "at most a year ahead");
                None
            }
            Some(Ok(t)) => Some(t),
        };
        let note = c.ok(reemploi_domain::text::optional("note", &n.note, MAX_NOTE));
        c.finish()?;
        match (what, center, expire_at, note) {
            (Some((category, family)), Some(center), Some(expire_at), Some(note)) => Ok(Fields {
                category,
                family,
                range,
                center,
                radius_km: n.radius_km,
                expire_at,
                note: note.unwrap_or_default(),
            }),
            _ => Err(vec![Violation::new(prefix, "invalid")]),
        }
    }
}

impl Need {
    /// `partners/{partner}/needs/{need}`.
    pub fn name(&self) -> String {
        format!("partners/{}/needs/{}", self.partner_id, self.id)
    }

    /// Where it stands at `now`.
    pub fn state(&self, now: i64) -> State {
        match (self.closed, self.fields.expire_at <= now) {
            (true, _) => State::Closed,
            (false, true) => State::Expired,
            (false, false) => State::Open,
        }
    }

    /// Whether `lot` meets it at `now`: open, the category (or family),
    /// the area and the least quantity.
    pub fn met_by(&self, lot: &Lot, now: i64) -> bool {
        let f = &self.fields;
        let Some(lot_category) = category::find(&lot.category) else {
            return false;
        };
        let category = match f.category {
            Some(c) => c.code == lot_category.code,
            None => lot_category.family == f.family,
        };
        let quantity = match f.range.and_then(|r| r.min_milli.map(|m| (r.unit, m))) {
            Some((unit, min)) => {
                lot.unit == unit_number(unit).to_string()
                    && lot.available_units.saturating_mul(1000) >= min
            }
            None => true,
        };
        let near = GeoPoint::new(lot.latitude, lot.longitude)
            .is_ok_and(|at| at.distance_m(f.center) <= f64::from(f.radius_km) * 1000.0);
        self.state(now) == State::Open && category && quantity && near
    }

    /// The need as the API shows it at `now`.
    pub fn to_proto(&self, now: i64) -> pb::Need {
        let f = &self.fields;
        let quantity = |milli: Option<i64>| {
            f.range.zip(milli).map(|(r, milli)| tpb::Quantity {
                unit: unit_number(r.unit),
                milli,
            })
        };
        pb::Need {
            name: self.name(),
            category: f.category.map(|c| c.code.to_owned()).unwrap_or_default(),
            family: match f.category {
                Some(_) => String::new(),
                None => f.family.code().to_owned(),
            },
            min_quantity: quantity(f.range.and_then(|r| r.min_milli)),
            max_quantity: quantity(f.range.and_then(|r| r.max_milli)),
            center: Some(point_proto(f.center)),
            radius_km: f.radius_km,
            expire_time: Some(millis_ts(f.expire_at)),
            note: f.note.clone(),
            state: self.state(now).to_proto() as i32,
            create_time: Some(millis_ts(self.created_at)),
            update_time: Some(millis_ts(self.updated_at)),
            etag: etag(self.version),
        }
    }

    fn from_row(row: &AnyRow) -> Result<Need> {
        let internal = |what: &str| ApiError::Internal(format!("stored need {what}"));
        let category_code: String = row.try_get("category")?;
        let category = match category_code.as_str() {
            "" => None,
            code => Some(category::find(code).ok_or_else(|| internal("category"))?),
        };
        let family: String = row.try_get("family")?;
        let unit: String = row.try_get("unit")?;
        let range = match unit.as_str() {
            "" => None,
            n => Some(Range {
                unit: n
                    .parse()
                    .ok()
                    .and_then(unit_from_number)
                    .ok_or_else(|| internal("unit"))?,
                min_milli: row.try_get("min_milli")?,
                max_milli: row.try_get("max_milli")?,
            }),
        };
        let center = GeoPoint::new(row.try_get("latitude")?, row.try_get("longitude")?)
            .map_err(|_| internal("centre"))?;
        let radius_km: i64 = row.try_get("radius_km")?;
        let state: String = row.try_get("state")?;
        Ok(Need {
            id: uuid_col(row, "id")?,
            partner_id: uuid_col(row, "partner_id")?,
            fields: Fields {
                category,
                family: Family::parse(&family).map_err(|_| internal("family"))?,
                range,
                center,
                radius_km: i32::try_from(radius_km).map_err(|_| internal("radius"))?,
                expire_at: row.try_get("expire_at")?,
                note: row.try_get("note")?,
            },
            closed: state == "closed",
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
            version: row.try_get("version")?,
        })
    }

    /// Its event on `subject`: the need's whole state.
    fn event(&self, subject: &str, now: i64) -> Message {
        envelope::message(
            PRODUCER,
            subject.to_owned(),
            self.name(),
            self.version,
            now,
            Payload::Need(self.to_proto(now)),
        )
    }
}

/// Writes a need: a new row, or the next version of one (guarded by the
/// version it had); returns whether it was written.
async fn save(conn: &mut AnyConnection, n: &Need) -> Result<bool> {
    let f = &n.fields;
    let sql = if n.version == 1 {
        format!(
            "INSERT INTO needs ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, \
             $12, $13, $14, $15, $16)"
        )
    } else {
        "UPDATE needs SET partner_id = $2, category = $3, family = $4, unit = $5, \
         min_milli = $6, max_milli = $7, latitude = $8, longitude = $9, radius_km = $10, \
         expire_at = $11, note = $12, state = $13, created_at = $14, updated_at = $15, \
         version = $16 WHERE id = $1 AND version = $16 - 1"
            .to_owned()
    };
    let done = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(n.id.to_string())
        .bind(n.partner_id.to_string())
        .bind(f.category.map(|c| c.code).unwrap_or_default())
        .bind(f.family.code())
        .bind(
            f.range
                .map(|r| unit_number(r.unit).to_string())
                .unwrap_or_default(),
        )
        .bind(f.range.and_then(|r| r.min_milli))
        .bind(f.range.and_then(|r| r.max_milli))
        .bind(f.center.latitude())
        .bind(f.center.longitude())
        .bind(i64::from(f.radius_km))
        .bind(f.expire_at)
        .bind(&f.note)
        .bind(if n.closed { "closed" } else { "open" })
        .bind(n.created_at)
        .bind(n.updated_at)
        .bind(n.version)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// One need of one partner.
async fn by_name(conn: &mut AnyConnection, partner: Uuid, id: Uuid) -> Result<Option<Need>> {
    let sql = format!("SELECT {COLUMNS} FROM needs WHERE id = $1 AND partner_id = $2");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id.to_string())
        .bind(partner.to_string())
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(Need::from_row).transpose()
}

/// One need, by id.
pub async fn by_id(conn: &mut AnyConnection, id: Uuid) -> Result<Option<Need>> {
    let sql = format!("SELECT {COLUMNS} FROM needs WHERE id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id.to_string())
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(Need::from_row).transpose()
}

/// Needs by id, read a thousand at a time.
pub async fn by_ids(conn: &mut AnyConnection, ids: &[Uuid]) -> Result<HashMap<Uuid, Need>> {
    let mut found = HashMap::new();
    for chunk in ids.chunks(1000) {
        // Only numbered placeholders are formatted into the text.
        let placeholders: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT {COLUMNS} FROM needs WHERE id IN ({})",
            placeholders.join(", ")
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for id in chunk {
            query = query.bind(id.to_string());
        }
        for row in query.fetch_all(&mut *conn).await? {
            let need = Need::from_row(&row)?;
            found.insert(need.id, need);
        }
    }
    Ok(found)
}

/// The open needs, in memory by family, so that ranking a lot reads no
/// row: a lot event measures the needs of its family only. Kept fresh as
/// the index is, through the change log (`need` entries); needs that
/// expire stay until they change, and meet nothing.
#[derive(Debug, Default)]
pub struct OpenNeeds {
    by_family: HashMap<Family, HashMap<Uuid, Need>>,
}

impl OpenNeeds {
    /// Every open need not yet expired at `now`.
    pub async fn load(conn: &mut AnyConnection, now: i64) -> Result<OpenNeeds> {
        let sql = format!("SELECT {COLUMNS} FROM needs WHERE state = 'open' AND expire_at > $1");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(now)
            .fetch_all(conn)
            .await?;
        let mut open = OpenNeeds::default();
        for row in &rows {
            match Need::from_row(row) {
                Ok(need) => open.set(need.id, Some(need)),
                // One bad row must not keep matching from starting.
                Err(e) => tracing::error!(error = %e, "unreadable need left out"),
            }
        }
        Ok(open)
    }

    /// Holds `need` as it is now (`None`, or closed: no longer held).
    pub fn set(&mut self, id: Uuid, need: Option<Need>) {
        for needs in self.by_family.values_mut() {
            needs.remove(&id);
        }
        if let Some(need) = need.filter(|n| !n.closed) {
            self.by_family
                .entry(need.fields.family)
                .or_default()
                .insert(id, need);
        }
    }

    /// The open needs `lot` meets at `now`, oldest first.
    pub fn met_by(&self, lot: &Lot, now: i64) -> Vec<Need> {
        let Some(family) = category::find(&lot.category).map(|c| c.family) else {
            return Vec::new();
        };
        let mut met: Vec<Need> = self
            .by_family
            .get(&family)
            .into_iter()
            .flat_map(|needs| needs.values())
            // Cheap first: no area is wider than MAX_RADIUS_KM.
            .filter(|n| (n.fields.center.latitude() - lot.latitude).abs() <= MAX_RADIUS_DEGREES)
            .filter(|n| n.met_by(lot, now))
            .cloned()
            .collect();
        met.sort_by_key(|n| (n.created_at, n.id));
        met
    }
}

/// A lot's ranking with the needs it meets first: the partners whose open
/// need it meets (verified, in `index`), best score first, each scored as
/// if it took the lot's category within its need's area (the need says
/// so), then the `top` others in their order. Each
/// with whether a need put it there. A partner whose need the lot meets
/// but who fails another gate (its windows, its capacity) is not put
/// first.
pub fn needs_first(
    index: &Index,
    lot: &LotProfile,
    met: &[Need],
    top: Vec<Scored>,
    now: i64,
) -> Vec<(Scored, bool)> {
    let mut first: Vec<Scored> = Vec::new();
    for need in met {
        let id = need.partner_id.to_string();
        if first.iter().any(|s| s.partner_id == id) {
            continue;
        }
        let Some(partner) = index.partner(&id) else {
            continue;
        };
        let mut probe = partner.clone();
        probe.accepted.push(lot.category);
        probe.radius_m = probe
            .radius_m
            .max(lot.location.distance_m(partner.location) + 1.0);
        if let Ok(scored) = index.scorer().score(lot, &probe, now) {
            first.push(scored);
        }
    }
    first.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then(a.partner_id.cmp(&b.partner_id))
    });
    let others: Vec<Scored> = top
        .into_iter()
        .filter(|s| !first.iter().any(|f| f.partner_id == s.partner_id))
        .collect();
    first
        .into_iter()
        .map(|s| (s, true))
        .chain(others.into_iter().map(|s| (s, false)))
        .collect()
}
