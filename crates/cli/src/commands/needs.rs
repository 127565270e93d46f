//! `reemploi needs`: what a structure looks for ("recherches"). A partner
//! posts, edits, closes and lists its own; a site manager lists the open
//! needs around one of its sites; admins see them all. A lot published
//! that meets an open need is proposed to its structure first.

use clap::{Args, Subcommand, ValueEnum};
use reemploi_domain::quantity::{Quantity, Unit};
use reemploi_proto::matching as mpb;
use reemploi_proto::types as tpb;

use super::claims::token_partner;
use super::{Ctx, pages, request_id};
use crate::CliError;
use crate::client::{answer, partner_name, site_name};
use crate::output::{emit, emit_list, fields};
use crate::views;

/// The `needs` subcommands.
#[derive(Subcommand, Debug)]
pub enum NeedsCommand {
    /// Posts a need: a category or a family, an area, until when.
    #[command(
        after_help = "Examples:\n  reemploi needs create --category radiateur --min 10 --unit u --radius-km 15 --until 2027-03-31\n  reemploi needs create --family menuiserie --at 47.75,7.33 --radius-km 20 --until 2027-06-30 --note \"Portes et fenêtres\""
    )]
    Create(CreateArgs),
    /// Changes the fields given of a need (the others stay).
    #[command(after_help = "Example:\n  reemploi needs update partners/…/needs/… --radius-km 25")]
    Update(UpdateArgs),
    /// Closes a need: it is no longer looked for.
    #[command(after_help = "Example:\n  reemploi needs close partners/…/needs/…")]
    Close(CloseArgs),
    /// Lists needs, newest first: a partner's own; the open needs around a
    /// site (site managers); every one (admins).
    #[command(
        after_help = "Examples:\n  reemploi needs list                              # as a partner: its own open needs\n  reemploi needs list --all --site coteaux-a       # as a site manager: the needs around a site\n  reemploi needs list --state expired"
    )]
    List(ListArgs),
}

/// What a need looks for and where, as flags.
#[derive(Args, Debug, Default)]
pub struct NeedFlags {
    /// A category code (`reemploi categories` lists them).
    #[arg(long, conflicts_with = "family")]
    pub category: Option<String>,
    /// A family code: every category of the family.
    #[arg(long)]
    pub family: Option<String>,
    /// At least this much, in --unit.
    #[arg(long)]
    pub min: Option<String>,
    /// At most this much, in --unit.
    #[arg(long)]
    pub max: Option<String>,
    /// The unit of --min and --max: u, m, m2, m3, kg, t, l.
    #[arg(long, default_value = "u")]
    pub unit: String,
    /// Centre of the area, `LAT,LON`; the structure's place by default.
    #[arg(long, value_name = "LAT,LON")]
    pub at: Option<String>,
    /// Radius of the area, 1 to 200 km.
    #[arg(long)]
    pub radius_km: Option<i32>,
    /// Until when: a date (2027-03-31) or an RFC 3339 time.
    #[arg(long, value_name = "DATE", value_parser = crate::dates::parse_time)]
    pub until: Option<prost_types::Timestamp>,
    /// A note for the sites.
    #[arg(long)]
    pub note: Option<String>,
}

/// Flags of `needs create`.
#[derive(Args, Debug)]
pub struct CreateArgs {
    /// The structure (`partners/ID` or `ID`); the logged-in partner by default.
    #[arg(long)]
    pub partner: Option<String>,
    #[command(flatten)]
    pub need: NeedFlags,
    /// Makes a retry safe: the same id returns the first result.
    #[arg(long)]
    pub request_id: Option<String>,
}

/// Flags of `needs update`.
#[derive(Args, Debug)]
pub struct UpdateArgs {
    /// The need, `partners/ID/needs/ID`.
    pub need: String,
    #[command(flatten)]
    pub fields: NeedFlags,
}

/// Flags of `needs close`.
#[derive(Args, Debug)]
pub struct CloseArgs {
    /// The need, `partners/ID/needs/ID`.
    pub need: String,
}

/// A need state to filter on.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum StateFilter {
    /// Looked for.
    Open,
    /// Closed by its structure.
    Closed,
    /// Past its date.
    Expired,
}

/// Flags of `needs list`.
#[derive(Args, Debug)]
pub struct ListArgs {
    /// Only this structure's (`partners/ID` or `ID`); the logged-in partner by default.
    #[arg(long, conflicts_with = "all")]
    pub partner: Option<String>,
    /// Every structure's (site managers and admins).
    #[arg(long)]
    pub all: bool,
    /// Only the needs whose area holds this site (`sites/ID` or `ID`).
    #[arg(long)]
    pub site: Option<String>,
    /// Only needs a lot of this category would meet.
    #[arg(long)]
    pub category: Option<String>,
    /// Only needs in this state (open by default).
    #[arg(long, value_enum)]
    pub state: Option<StateFilter>,
    /// At most this many; 0 for all.
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
}

/// Columns of `needs list`.
const COLUMNS: &[&str] = &[
    "WHAT", "FROM", "TO", "AREA", "UNTIL", "STATE", "NOTE", "NAME",
];

fn usage(message: impl Into<String>) -> CliError {
    CliError::Usage(message.into())
}

/// A quantity flag in `unit`, in thousandths, as the API takes it.
fn quantity(flag: &str, text: Option<&str>, unit: &str) -> Result<Option<tpb::Quantity>, CliError> {
    let Some(text) = text else { return Ok(None) };
    let unit = Unit::parse(unit).map_err(|e| usage(format!("--unit: {e}")))?;
    let q = Quantity::parse_decimal(text, unit).map_err(|e| usage(format!("{flag}: {e}")))?;
    Ok(Some(tpb::Quantity {
        unit: reemploi_inventory::model::unit_to_proto(unit) as i32,
        milli: q.milli(),
    }))
}

/// `LAT,LON`.
fn point(text: &str) -> Result<tpb::GeoPoint, CliError> {
    let parsed = text
        .split_once(',')
        .and_then(|(a, b)| Some((a.trim().parse().ok()?, b.trim().parse().ok()?)));
    let (latitude, longitude) =
        parsed.ok_or_else(|| usage("--at: write a point as LAT,LON (47.75,7.33)"))?;
    Ok(tpb::GeoPoint {
        latitude,
        longitude,
    })
}

impl NeedFlags {
    /// The need the flags say, and the fields they name (an update's mask).
    fn need(&self) -> Result<(mpb::Need, Vec<String>), CliError> {
        let mut paths = Vec::new();
        let mut name = |given: bool, path: &str| {
            if given {
                paths.push(path.to_owned());
            }
        };
        name(self.category.is_some(), "category");
        name(self.family.is_some(), "family");
        name(self.min.is_some(), "min_quantity");
        name(self.max.is_some(), "max_quantity");
        name(self.at.is_some(), "center");
        name(self.radius_km.is_some(), "radius_km");
        name(self.until.is_some(), "expire_time");
        name(self.note.is_some(), "note");
        let need = mpb::Need {
            category: self.category.clone().unwrap_or_default(),
            family: self.family.clone().unwrap_or_default(),
            min_quantity: quantity("--min", self.min.as_deref(), &self.unit)?,
            max_quantity: quantity("--max", self.max.as_deref(), &self.unit)?,
            center: self.at.as_deref().map(point).transpose()?,
            radius_km: self.radius_km.unwrap_or_default(),
            expire_time: self.until,
            note: self.note.clone().unwrap_or_default(),
            ..Default::default()
        };
        Ok((need, paths))
    }
}

/// The partner a command is about: the one named, or the logged-in one.
fn partner(ctx: &Ctx, named: Option<&str>) -> Result<String, CliError> {
    match named {
        Some(p) => Ok(partner_name(p)),
        None => token_partner(ctx)
            .ok_or_else(|| usage("--partner is required: the logged-in token is not a partner's")),
    }
}

/// Runs a `needs` subcommand.
pub async fn run(ctx: &Ctx, cmd: NeedsCommand) -> Result<(), CliError> {
    let mut matching = ctx.connect().await?.matching();
    let need = match cmd {
        NeedsCommand::Create(a) => {
            let (need, _) = a.need.need()?;
            answer(
                matching
                    .create_need(mpb::CreateNeedRequest {
                        parent: partner(ctx, a.partner.as_deref())?,
                        need: Some(need),
                        request_id: a.request_id.unwrap_or_else(request_id),
                    })
                    .await,
            )?
        }
        NeedsCommand::Update(a) => {
            let (need, paths) = a.fields.need()?;
            if paths.is_empty() {
                return Err(usage("name at least one field to change (see --help)"));
            }
            answer(
                matching
                    .update_need(mpb::UpdateNeedRequest {
                        need: Some(mpb::Need {
                            name: a.need,
                            ..need
                        }),
                        update_mask: Some(prost_types::FieldMask { paths }),
                    })
                    .await,
            )?
        }
        NeedsCommand::Close(a) => answer(
            matching
                .close_need(mpb::CloseNeedRequest {
                    name: a.need,
                    etag: String::new(),
                })
                .await,
        )?,
        NeedsCommand::List(a) => return list(ctx, a).await,
    };
    emit(ctx.format, crate::json::message(&need), || need_text(&need))
}

/// `needs list`: every page up to the limit.
async fn list(ctx: &Ctx, a: ListArgs) -> Result<(), CliError> {
    let parent = match a.all {
        true => "partners/-".to_owned(),
        false => partner(ctx, a.partner.as_deref())?,
    };
    let site = a.site.as_deref().map(site_name).unwrap_or_default();
    let state = a.state.map_or(0, |s| match s {
        StateFilter::Open => mpb::NeedState::Open as i32,
        StateFilter::Closed => mpb::NeedState::Closed as i32,
        StateFilter::Expired => mpb::NeedState::Expired as i32,
    });
    let category = a.category.unwrap_or_default();
    let matching = ctx.connect().await?.matching();
    let found = pages(a.limit, |page_token, page_size| {
        let mut matching = matching.clone();
        let req = mpb::ListNeedsRequest {
            parent: parent.clone(),
            site: site.clone(),
            state,
            category: category.clone(),
            page_size,
            page_token,
        };
        async move {
            let r = answer(matching.list_needs(req).await)?;
            Ok((r.needs, r.next_page_token))
        }
    })
    .await?;
    emit_list(
        ctx.format,
        &found,
        crate::json::message,
        COLUMNS,
        |n| {
            vec![
                what(n),
                views::quantity(n.min_quantity.as_ref()),
                views::quantity(n.max_quantity.as_ref()),
                area(n),
                views::timestamp(n.expire_time.as_ref()),
                state_short(n.state),
                n.note.clone(),
                n.name.clone(),
            ]
        },
        "need",
    )
}

/// The category, or the family and that it is one.
fn what(n: &mpb::Need) -> String {
    match n.category.as_str() {
        "" => format!("{} (family)", n.family),
        category => category.to_owned(),
    }
}

/// The area: its radius around its centre.
fn area(n: &mpb::Need) -> String {
    let at = n.center.unwrap_or_default();
    format!(
        "{} around {:.4},{:.4}",
        views::km(i64::from(n.radius_km) * 1000),
        at.latitude,
        at.longitude
    )
}

/// A need state for people: `open`.
fn state_short(v: i32) -> String {
    mpb::NeedState::try_from(v)
        .map_or("NEED_STATE_UNKNOWN", |s| s.as_str_name())
        .trim_start_matches("NEED_STATE_")
        .to_lowercase()
}

/// One need for people.
fn need_text(n: &mpb::Need) -> String {
    fields(&[
        ("name", n.name.clone()),
        ("looks for", what(n)),
        ("at least", views::quantity(n.min_quantity.as_ref())),
        ("at most", views::quantity(n.max_quantity.as_ref())),
        ("area", area(n)),
        ("until", views::timestamp(n.expire_time.as_ref())),
        ("state", state_short(n.state)),
        ("note", n.note.clone()),
    ])
}
