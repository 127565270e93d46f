//! The proposals matching made, as the people concerned see them: a
//! partner lists those made to it (which marks the new ones seen) and
//! declines one, a site manager sees who its organisation's lots were
//! proposed to. A proposal's row is kept for good, so that its pair
//! (`(site, lot, partner)`, the table's key) is never proposed twice: a
//! declined pair stays declined whatever events come again.

use reemploi_events::Message;
use reemploi_matching_engine::score::Scored;
use reemploi_proto::events::envelope::Payload;
use reemploi_proto::matching as pb;
use reemploi_runtime::auth::{Principal, Role};
use reemploi_runtime::envelope;
use reemploi_runtime::error::ApiError;
use reemploi_runtime::names::{LotName, SiteName, parse};
use reemploi_runtime::paging::Page;
use reemploi_runtime::validation::Violation;
use reemploi_runtime::wire::millis_ts;
use reemploi_store::query::{Filter, select_filtered};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use uuid::Uuid;

use crate::error::{MatchingError, Result};
use crate::events::PRODUCER;
use crate::model::{id_col, uuid_col};
use crate::repo;

/// Subject of a declined proposal.
pub const DECLINED: &str = "reemploi.matching.match.declined";

/// Longest reason a partner may give for declining, in characters.
pub const MAX_DECLINE_REASON: usize = 1000;

/// Most proposals one statement inserts: each takes 13 bound values, and
/// PostgreSQL binds at most 65,535 in a statement.
const INSERT_CHUNK: usize = 1000;

/// Columns of a proposal as read.
const COLUMNS: &str = "id, site_id, lot_id, partner_id, score, category_fit, distance, capacity, \
    urgency, insertion, distance_m, status, created_at, seen_at, declined_at, decline_reason, \
    claimed_at, version, need";

/// Where a proposal stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Made, not yet listed by its partner.
    New,
    /// Listed by its partner.
    Seen,
    /// Declined by its partner.
    Declined,
    /// Its partner claimed the lot.
    Claimed,
}

impl Status {
    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::New => "new",
            Status::Seen => "seen",
            Status::Declined => "declined",
            Status::Claimed => "claimed",
        }
    }

    fn parse(stored: &str) -> Result<Status> {
        match stored {
            "new" => Ok(Status::New),
            "seen" => Ok(Status::Seen),
            "declined" => Ok(Status::Declined),
            "claimed" => Ok(Status::Claimed),
            other => Err(ApiError::Internal(format!("stored proposal status {other:?}")).into()),
        }
    }

    fn to_proto(self) -> pb::ProposalStatus {
        match self {
            Status::New => pb::ProposalStatus::New,
            Status::Seen => pb::ProposalStatus::Seen,
            Status::Declined => pb::ProposalStatus::Declined,
            Status::Claimed => pb::ProposalStatus::Claimed,
        }
    }

    /// The filter a request's status asks for: none when unspecified.
    fn from_request(value: i32) -> std::result::Result<Option<Status>, Violation> {
        match pb::ProposalStatus::try_from(value) {
            Ok(pb::ProposalStatus::Unspecified) => Ok(None),
            Ok(pb::ProposalStatus::New) => Ok(Some(Status::New)),
            Ok(pb::ProposalStatus::Seen) => Ok(Some(Status::Seen)),
            Ok(pb::ProposalStatus::Declined) => Ok(Some(Status::Declined)),
            Ok(pb::ProposalStatus::Claimed) => Ok(Some(Status::Claimed)),
            Err(_) => Err(Violation::new("status", format!("unknown status {value}"))),
        }
    }
}

/// A proposal as matching keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct Proposal {
    pub id: Uuid,
    pub lot: LotName,
    pub partner_id: Uuid,
    pub score: f64,
    /// Absent on proposals made before the factors were kept.
    pub breakdown: Option<pb::ScoreBreakdown>,
    pub distance_m: Option<i64>,
    pub status: Status,
    pub created_at: i64,
    pub seen_at: Option<i64>,
    pub declined_at: Option<i64>,
    pub decline_reason: String,
    pub claimed_at: Option<i64>,
    pub version: i64,
}

impl Proposal {
    fn from_row(row: &AnyRow) -> Result<Proposal> {
        let factors: [Option<f64>; 5] = [
            row.try_get("category_fit")?,
            row.try_get("distance")?,
            row.try_get("capacity")?,
            row.try_get("urgency")?,
            row.try_get("insertion")?,
        ];
        let breakdown = match factors {
            [
                Some(category_fit),
                Some(distance),
                Some(capacity),
                Some(urgency),
                Some(insertion),
            ] => Some(pb::ScoreBreakdown {
                category_fit,
                distance,
                capacity,
                urgency,
                insertion,
                need: 0.0,
            }),
            _ => None,
        };
        let status: String = row.try_get("status")?;
        let need: f64 = row.try_get("need")?;
        let breakdown = breakdown.map(|b| pb::ScoreBreakdown { need, ..b });
        Ok(Proposal {
            id: uuid_col(row, "id")?,
            lot: LotName {
                site: id_col(row, "site_id")?,
                lot: id_col(row, "lot_id")?,
            },
            partner_id: uuid_col(row, "partner_id")?,
            score: row.try_get("score")?,
            breakdown,
            distance_m: row.try_get("distance_m")?,
            status: Status::parse(&status)?,
            created_at: row.try_get("created_at")?,
            seen_at: row.try_get("seen_at")?,
            declined_at: row.try_get("declined_at")?,
            decline_reason: row.try_get("decline_reason")?,
            claimed_at: row.try_get("claimed_at")?,
            version: row.try_get("version")?,
        })
    }

    /// `proposals/{id}`.
    pub fn name(&self) -> String {
        format!("proposals/{}", self.id)
    }

    /// The proposal as the API shows it.
    pub fn to_proto(&self) -> pb::MatchProposal {
        pb::MatchProposal {
            name: self.name(),
            r#match: Some(pb::Match {
                lot: self.lot.to_string(),
                partner: format!("partners/{}", self.partner_id),
                score: self.score,
                breakdown: self.breakdown,
                distance_m: self.distance_m.unwrap_or(0),
            }),
            create_time: Some(millis_ts(self.created_at)),
            status: self.status.to_proto() as i32,
            seen_time: self.seen_at.map(millis_ts),
            decline_time: self.declined_at.map(millis_ts),
            decline_reason: self.decline_reason.clone(),
            claim_time: self.claimed_at.map(millis_ts),
        }
    }
}

/// A proposal about to be made.
pub struct NewProposal<'a> {
    pub id: Uuid,
    pub lot: LotName,
    pub partner_id: Uuid,
    pub scored: &'a Scored,
    /// The lot meets an open need of the partner.
    pub need: bool,
}

impl NewProposal<'_> {
    /// The proposal as recorded at `now`, new.
    pub fn made(&self, now: i64) -> Proposal {
        let b = &self.scored.breakdown;
        Proposal {
            id: self.id,
            lot: self.lot,
            partner_id: self.partner_id,
            score: self.scored.score,
            breakdown: Some(pb::ScoreBreakdown {
                category_fit: b.category_fit,
                distance: b.distance,
                capacity: b.capacity,
                urgency: b.urgency,
                insertion: b.insertion,
                need: if self.need { 1.0 } else { 0.0 },
            }),
            distance_m: Some(self.scored.distance_m.round() as i64),
            status: Status::New,
            created_at: now,
            seen_at: None,
            declined_at: None,
            decline_reason: String::new(),
            claimed_at: None,
            version: 1,
        }
    }
}

/// Records the proposals whose pair was never proposed, declined ones
/// included (their rows stay: a pair is proposed once, ever); returns the
/// (lot, partner) pairs that are new.
pub async fn insert_new(
    conn: &mut AnyConnection,
    proposals: &[NewProposal<'_>],
    now: i64,
) -> Result<Vec<(LotName, Uuid)>> {
    let mut new = Vec::new();
    for chunk in proposals.chunks(INSERT_CHUNK) {
        new.extend(insert_chunk(conn, chunk, now).await?);
    }
    Ok(new)
}

async fn insert_chunk(
    conn: &mut AnyConnection,
    proposals: &[NewProposal<'_>],
    now: i64,
) -> Result<Vec<(LotName, Uuid)>> {
    const PER_ROW: usize = 13;
    if proposals.is_empty() {
        return Ok(Vec::new());
    }
    let mut args = sqlx::any::AnyArguments::default();
    let mut rows = Vec::with_capacity(proposals.len());
    let bind = |e: sqlx::error::BoxDynError| ApiError::Internal(format!("bind: {e}"));
    for (i, p) in proposals.iter().enumerate() {
        let placeholders: Vec<String> = (1..=PER_ROW)
            .map(|k| format!("${}", i * PER_ROW + k))
            .collect();
        rows.push(format!("({})", placeholders.join(", ")));
        let b = &p.scored.breakdown;
        sqlx::Arguments::add(&mut args, p.lot.site.to_string()).map_err(bind)?;
        sqlx::Arguments::add(&mut args, p.lot.lot.to_string()).map_err(bind)?;
        sqlx::Arguments::add(&mut args, p.partner_id.to_string()).map_err(bind)?;
        sqlx::Arguments::add(&mut args, p.id.to_string()).map_err(bind)?;
        for value in [
            p.scored.score,
            b.category_fit,
            b.distance,
            b.capacity,
            b.urgency,
            b.insertion,
        ] {
            sqlx::Arguments::add(&mut args, value).map_err(bind)?;
        }
        sqlx::Arguments::add(&mut args, p.scored.distance_m.round() as i64).map_err(bind)?;
        sqlx::Arguments::add(&mut args, now).map_err(bind)?;
        sqlx::Arguments::add(&mut args, if p.need { 1.0 } else { 0.0 }).map_err(bind)?;
    }
    // Only numbered placeholders are formatted into the text.
    let sql = format!(
        "INSERT INTO proposals (site_id, lot_id, partner_id, id, score, category_fit, distance, \
         capacity, urgency, insertion, distance_m, created_at, need) VALUES {} \
         ON CONFLICT (site_id, lot_id, partner_id) DO NOTHING \
         RETURNING site_id, lot_id, partner_id",
        rows.join(", ")
    );
    let inserted = sqlx::query_with(sqlx::AssertSqlSafe(sql), args)
        .fetch_all(conn)
        .await?;
    inserted
        .iter()
        .map(|r| {
            let lot = LotName {
                site: id_col(r, "site_id")?,
                lot: id_col(r, "lot_id")?,
            };
            Ok((lot, uuid_col(r, "partner_id")?))
        })
        .collect()
}

/// One proposal, by id.
async fn by_id(conn: &mut AnyConnection, id: Uuid) -> Result<Option<Proposal>> {
    let sql = format!("SELECT {COLUMNS} FROM proposals WHERE id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id.to_string())
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(Proposal::from_row).transpose()
}

/// Marks the proposal of `partner` on `lot`, if one was made, claimed: the
/// partner took what it was proposed (or, after declining, changed its mind).
pub async fn mark_claimed(
    conn: &mut AnyConnection,
    lot: LotName,
    partner: Uuid,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "UPDATE proposals SET status = 'claimed', claimed_at = $1, version = version + 1 \
         WHERE site_id = $2 AND lot_id = $3 AND partner_id = $4 AND status <> 'claimed'",
    )
    .bind(now)
    .bind(lot.site.to_string())
    .bind(lot.lot.to_string())
    .bind(partner.to_string())
    .execute(conn)
    .await?;
    Ok(())
}

/// Marks the new proposals among `ids` seen by their partner.
async fn mark_seen(conn: &mut AnyConnection, ids: &[Uuid], now: i64) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    // `$1` is the time, the ids follow; only placeholders are formatted in.
    let placeholders: Vec<String> = (2..ids.len() + 2).map(|i| format!("${i}")).collect();
    let sql = format!(
        "UPDATE proposals SET status = 'seen', seen_at = $1, version = version + 1 \
         WHERE status = 'new' AND id IN ({})",
        placeholders.join(", ")
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now);
    for id in ids {
        query = query.bind(id.to_string());
    }
    query.execute(conn).await?;
    Ok(())
}

/// What a caller may list: the proposals of one partner, of one
/// organisation's sites, or every one.
enum Scope {
    Partner(Uuid),
    Organisation(String),
    All,
}

/// The filters of a ListProposals request, parsed.
struct Filters {
    partner: Option<Uuid>,
    site: Option<SiteName>,
    lot: Option<LotName>,
    status: Option<Status>,
}

impl Filters {
    fn parse(req: &pb::ListProposalsRequest) -> Result<Filters> {
        let mut violations = Vec::new();
        let partner = optional(&mut violations, &req.partner, |name| {
            parse("partner", name, "partners/{partner}").map(|ids| ids[0])
        });
        let site = optional(&mut violations, &req.site, |name| {
            SiteName::parse("site", name)
        });
        let lot = optional(&mut violations, &req.lot, |name| {
            LotName::parse("lot", name)
        });
        let status = Status::from_request(req.status)
            .map_err(|v| violations.push(v))
            .ok()
            .flatten();
        if !violations.is_empty() {
            return Err(ApiError::Invalid(violations).into());
        }
        Ok(Filters {
            partner,
            site,
            lot,
            status,
        })
    }

    /// Stable text of the filters, for page tokens.
    fn fingerprint(&self) -> String {
        format!(
            "partner={}|site={}|lot={}|status={}",
            self.partner.map(|p| p.to_string()).unwrap_or_default(),
            self.site.map(|s| s.to_string()).unwrap_or_default(),
            self.lot.map(|l| l.to_string()).unwrap_or_default(),
            self.status.map(Status::as_str).unwrap_or_default(),
        )
    }
}

/// A filter given as `value`, if any: parsed, or its violation collected.
fn optional<T>(
    violations: &mut Vec<Violation>,
    value: &str,
    parse: impl FnOnce(&str) -> std::result::Result<T, Violation>,
) -> Option<T> {
    if value.is_empty() {
        return None;
    }
    parse(value).map_err(|v| violations.push(v)).ok()
}

fn denied(message: &str) -> MatchingError {
    ApiError::PermissionDenied(message.to_owned()).into()
}

/// Who may list what: a partner its own proposals, a site manager those
/// of its organisation's sites (naming another's site or lot is refused),
/// admins and integrators every one.
async fn scope(conn: &mut AnyConnection, p: &Principal, f: &Filters) -> Result<Scope> {
    match p.role {
        Role::Admin | Role::Integrator => Ok(Scope::All),
        Role::Partner => {
            let own = p
                .own_partner()
                .ok_or_else(|| denied("the token names no partner"))?;
            if f.partner.is_some_and(|named| named != own) {
                return Err(denied("a partner sees the proposals made to it only"));
            }
            Ok(Scope::Partner(own))
        }
        Role::SiteManager => {
            let org = p
                .org
                .clone()
                .ok_or_else(|| denied("the token names no organisation"))?;
            for site in [f.site.map(|s| s.0), f.lot.map(|l| l.site)]
                .into_iter()
                .flatten()
            {
                let owner = repo::site_owner(conn, site).await?;
                // A site matching has not heard of yet has no proposals.
                if !owner.is_empty() && owner != org {
                    return Err(denied(
                        "a site manager sees the proposals of its organisation's lots only",
                    ));
                }
            }
            Ok(Scope::Organisation(org))
        }
    }
}

/// The WHERE clause of a listing.
fn filter(scope: &Scope, f: &Filters, page: &Page) -> Result<Filter> {
    let mut w = Filter::default();
    match scope {
        Scope::Partner(id) => w.add("partner_id = ?", id.to_string())?,
        Scope::Organisation(org) => w.add(
            "site_id IN (SELECT id FROM sites WHERE owner_org = ?)",
            org.clone(),
        )?,
        Scope::All => {}
    }
    if let Some(partner) = f.partner {
        w.add("partner_id = ?", partner.to_string())?;
    }
    if let Some(site) = f.site {
        w.add("site_id = ?", site.0.to_string())?;
    }
    if let Some(lot) = f.lot {
        w.add("site_id = ?", lot.site.to_string())?;
        w.add("lot_id = ?", lot.lot.to_string())?;
    }
    if let Some(status) = f.status {
        w.add("status = ?", status.as_str().to_owned())?;
    }
    if let Some(after) = &page.after {
        let (time, id) = after
            .split_once('/')
            .and_then(|(t, id)| Some((t.parse::<i64>().ok()?, id)))
            .ok_or_else(|| ApiError::invalid("page_token", "not a token of this list"))?;
        w.before_in_time("created_at", time, id)?;
    }
    Ok(w)
}

impl crate::Matching {
    /// ListProposals: newest first; a partner's own listing marks the new
    /// proposals it returns seen, after reading them (they show as new
    /// this once).
    pub(crate) async fn list_proposals_as(
        &self,
        p: &Principal,
        req: &pb::ListProposalsRequest,
    ) -> Result<pb::ListProposalsResponse> {
        let filters = Filters::parse(req)?;
        let page = self
            .pager
            .page(req.page_size, &req.page_token, &filters.fingerprint())?;
        let mut conn = self.db.pool().acquire().await?;
        let scope = scope(&mut conn, p, &filters).await?;
        let head = format!("SELECT {COLUMNS} FROM proposals");
        let tail = format!(" ORDER BY created_at DESC, id DESC LIMIT {}", page.size + 1);
        let rows =
            select_filtered(&mut conn, &head, filter(&scope, &filters, &page)?, &tail).await?;
        let mut proposals = rows
            .iter()
            .map(Proposal::from_row)
            .collect::<Result<Vec<_>>>()?;
        let next_page_token = page.finish(&mut proposals, |x| format!("{}/{}", x.created_at, x.id));
        if let Scope::Partner(_) = scope {
            let new: Vec<Uuid> = proposals
                .iter()
                .filter(|x| x.status == Status::New)
                .map(|x| x.id)
                .collect();
            mark_seen(&mut conn, &new, reemploi_store::now_millis()).await?;
        }
        Ok(pb::ListProposalsResponse {
            proposals: proposals.iter().map(Proposal::to_proto).collect(),
            next_page_token,
        })
    }

    /// DeclineProposal: by its partner (or an admin), once; a repeat
    /// returns the proposal as it is. A claimed proposal is not declined.
    pub(crate) async fn decline_proposal_as(
        &self,
        p: &Principal,
        req: &pb::DeclineProposalRequest,
    ) -> Result<pb::MatchProposal> {
        let id = parse("name", &req.name, "proposals/{proposal}")?[0];
        let reason = reemploi_domain::text::optional("reason", &req.reason, MAX_DECLINE_REASON)?
            .unwrap_or_default();
        let mut tx = self.db.begin_write().await?;
        let current = by_id(&mut tx, id)
            .await?
            .ok_or_else(|| ApiError::not_found("proposal", &req.name))?;
        match p.role {
            Role::Admin => {}
            Role::Partner if p.own_partner() == Some(current.partner_id) => {}
            Role::Partner | Role::SiteManager | Role::Integrator => {
                return Err(denied(
                    "only the partner it was made to declines a proposal",
                ));
            }
        }
        match current.status {
            Status::Declined => return Ok(current.to_proto()),
            Status::Claimed => {
                return Err(ApiError::precondition(
                    "PROPOSAL_CLAIMED",
                    format!("{} was claimed: cancel the claim instead", req.name),
                )
                .into());
            }
            Status::New | Status::Seen => {}
        }
        let now = reemploi_store::now_millis();
        let declined = decline(&mut tx, id, &reason, now)
            .await?
            .ok_or(ApiError::Conflict)?;
        let event = declined_event(&declined, now);
        self.relay.commit(tx, &[event]).await?;
        Ok(declined.to_proto())
    }
}

/// Declines a proposal not yet declined or claimed; the proposal after, or
/// `None` when it changed meanwhile.
async fn decline(
    conn: &mut AnyConnection,
    id: Uuid,
    reason: &str,
    now: i64,
) -> Result<Option<Proposal>> {
    let sql = format!(
        "UPDATE proposals SET status = 'declined', declined_at = $1, decline_reason = $2, \
         version = version + 1 WHERE id = $3 AND status IN ('new', 'seen') RETURNING {COLUMNS}"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(now)
        .bind(reason)
        .bind(id.to_string())
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(Proposal::from_row).transpose()
}

/// The `match.declined` event: the proposal's whole state after the decline.
fn declined_event(proposal: &Proposal, now: i64) -> Message {
    envelope::message(
        PRODUCER,
        DECLINED.to_string(),
        proposal.name(),
        proposal.version,
        now,
        Payload::MatchProposal(proposal.to_proto()),
    )
}
