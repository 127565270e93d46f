//! `reemploi lots`: create, list, show, publish and withdraw lots, and
//! import a whole PEMD diagnostic (`lots_import`).

use super::{Ctx, lots_import, pages, request_id};
use crate::CliError;
use crate::client::{answer, site_name};
use crate::import;
use crate::output::{Format, emit, emit_list, note};
use crate::views;
use clap::{Args, Subcommand, ValueEnum};
use reemploi_domain::category;
use reemploi_domain::geo::GeoPoint;
use reemploi_domain::quantity::{Quantity, Unit};
use reemploi_domain::waste::{Hazard, WasteCode};
use reemploi_inventory::model::unit_to_proto;
use reemploi_proto::inventory as pb;
use reemploi_proto::types as tpb;
use serde_json::json;

/// The `lots` subcommands.
#[derive(Subcommand, Debug)]
pub enum LotsCommand {
    /// Creates one lot, as a draft, on a site.
    #[command(
        after_help = "Example:\n  reemploi lots create --site coteaux-b --id portes-r1 --designation \"Portes bois 83x204\" \\\n    --category porte-interieure --quantity 24 --unit u --mass-kg 600"
    )]
    Create(CreateArgs),
    /// Lists lots (of one site, or of every site).
    #[command(
        after_help = "Examples:\n  reemploi lots list --status published\n  reemploi lots list --near 47.75,7.30 --radius 5\n  reemploi lots list --site sites/… --output json"
    )]
    List(ListArgs),
    /// Shows one lot with its ledger.
    #[command(after_help = "Example:\n  reemploi lots show sites/…/lots/…")]
    Show(NameArgs),
    /// Publishes draft lots so that partners can claim them: the lots named
    /// (all or none), or every draft of a site with --all (hazardous lots
    /// never can be; lots awaiting a check once a passed check is recorded).
    #[command(
        after_help = "Examples:\n  reemploi lots publish sites/…/lots/…\n  reemploi lots publish sites/S/lots/A sites/S/lots/B\n  reemploi lots publish --site sites/… --all"
    )]
    Publish(PublishArgs),
    /// Changes the fields given of a draft or published lot (the others
    /// stay as they are).
    #[command(
        after_help = "Examples:\n  reemploi lots update sites/…/lots/… --quantity 30 --mass-kg 750\n  reemploi lots update sites/…/lots/… --available-from 2027-01-15 --available-until 2027-03-31 --photo https://photos.example/porte.jpg"
    )]
    Update(super::updates::LotArgs),
    /// Deletes a draft lot (a published lot is withdrawn instead).
    #[command(after_help = "Example:\n  reemploi lots delete sites/…/lots/…")]
    Delete(NameArgs),
    /// Records the check (lead, structure) of a lot whose reuse potential is
    /// "after check": such a lot is published once its check passed.
    #[command(
        after_help = "Example:\n  reemploi lots check sites/…/lots/m5 --result passed --date 2027-01-12 --by \"Diagnostics Alsace\""
    )]
    Check(CheckArgs),
    /// Withdraws a lot: no new claims; open claims remain.
    #[command(
        after_help = "Example:\n  reemploi lots withdraw sites/…/lots/… --reason \"kept on site\""
    )]
    Withdraw(WithdrawArgs),
    /// Imports a PEMD diagnostic (CSV, XLSX, XLS or ODS) as draft lots of a
    /// site; importing it again updates them.
    ///
    /// Columns are found by their header, French or English, whatever the
    /// case and accents, as the official diagnostic form and its variants
    /// write them: Réf/N°/reference, Désignation (du produit/matériau...),
    /// Catégorie/category, Quantité (estimée)/quantity, Unité (de
    /// mesure)/unit, Masse (kg) or Masse (t)/Tonnage (a mass without a unit
    /// in its header is in kg; a cell may say its own: "24,6 t"),
    /// Localisation, État (de conservation), Potentiel de réemploi (oui/non,
    /// or words: réemploi, reconditionnement, après diagnostic, faible,
    /// recyclage, aucun), Code déchet, Danger/Caractère dangereux,
    /// Observations/description. --map COLUMN=FIELD reads any other header.
    /// A category is a code or a label of `reemploi categories`. A value
    /// that is not understood is an error on its line, never dropped.
    ///
    /// Every bad row is reported with its line. By default it is all or
    /// nothing: one bad row and nothing is sent. Hazardous rows (waste code
    /// with `*`, asbestos) become lots that can never be published.
    ///
    /// Importing again matches rows to the site's lots by reference (each
    /// row's reference is unique in the file): a row whose reference is new
    /// is created; a draft is updated with the cells that are not empty
    /// (an empty cell changes nothing); a lot that is no longer a draft, or
    /// a reference several lots share, is never changed: where the file
    /// differs, the report says it is "left alone", and why.
    /// Rows without a reference are created every time.
    #[command(
        after_help = "Examples:\n  reemploi lots import diagnostic.xlsx --site sites/… --dry-run\n  reemploi lots import diagnostic.csv --site sites/… --publish\n  reemploi lots import pemd.xlsx --site sites/… --map \"Libellé PEM=designation\" --map \"Famille=ignore\"\n  reemploi lots import diagnostic.csv --site sites/… --skip-invalid --output json"
    )]
    Import(lots_import::ImportArgs),
}

/// Statuses a lot can be filtered on.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum StatusFilter {
    /// Being prepared.
    Draft,
    /// Open to claims.
    Published,
    /// Withdrawn by the site.
    Withdrawn,
    /// Everything reserved or handed over.
    Exhausted,
    /// Past its availability window.
    Expired,
}

impl StatusFilter {
    fn proto(self) -> pb::LotStatus {
        match self {
            StatusFilter::Draft => pb::LotStatus::Draft,
            StatusFilter::Published => pb::LotStatus::Published,
            StatusFilter::Withdrawn => pb::LotStatus::Withdrawn,
            StatusFilter::Exhausted => pb::LotStatus::Exhausted,
            StatusFilter::Expired => pb::LotStatus::Expired,
        }
    }
}

/// Flags of `lots create`.
#[derive(Args, Debug)]
pub struct CreateArgs {
    /// The site: `sites/ID` or `ID`.
    #[arg(long)]
    pub site: String,
    /// Short designation, e.g. "Radiateurs fonte".
    #[arg(long)]
    pub designation: String,
    /// Category code, e.g. porte-interieure, radiateur, tuile.
    #[arg(long)]
    pub category: String,
    /// Quantity, a decimal (12.5 or 12,5).
    #[arg(long)]
    pub quantity: String,
    /// Unit: u, ml, m2, m3, kg, t, l...
    #[arg(long)]
    pub unit: String,
    /// Estimated mass of the whole lot in kilograms.
    #[arg(long)]
    pub mass_kg: Option<String>,
    #[command(flatten)]
    pub details: super::updates::LotDetails,
    /// European List of Waste code, e.g. "17 02 01" (a `*` marks hazardous waste).
    #[arg(long)]
    pub waste_code: Option<String>,
    /// A known hazard (asbestos, lead, pcb, pah, other); repeatable.
    #[arg(long)]
    pub hazard: Vec<String>,
    /// The diagnostic's reference, e.g. M1.
    #[arg(long, default_value = "")]
    pub reference: String,
    /// Condition as observed.
    #[arg(long, default_value = "")]
    pub condition: String,
    /// Where the material is in the building.
    #[arg(long, default_value = "")]
    pub location: String,
    /// Idempotency key: repeating the command with it returns the first lot.
    #[arg(long)]
    pub request_id: Option<String>,
    /// The lot's id in its name, unique within its site, e.g. `portes-r1`
    /// for `sites/SITE/lots/portes-r1`: lowercase letters, digits and
    /// hyphens, starting with a letter. By default the reference made an id
    /// (`M1` gives `m1`) when no lot of the site has it, else a UUID.
    #[arg(long)]
    pub id: Option<String>,
}

/// Flags of `lots list`.
#[derive(Args, Debug)]
pub struct ListArgs {
    /// Only the lots of this site (`sites/ID` or `ID`); all sites by default.
    #[arg(long)]
    pub site: Option<String>,
    /// Only lots in this status.
    #[arg(long, value_enum)]
    pub status: Option<StatusFilter>,
    /// Only lots of this category code.
    #[arg(long)]
    pub category: Option<String>,
    /// Only lots whose designation, description or reference contain this text.
    #[arg(long)]
    pub text: Option<String>,
    /// Only lots within --radius of this point, `LAT,LON` in decimal
    /// degrees (WGS84); shows each lot's distance, nearest first.
    #[arg(long, value_parser = parse_point, allow_hyphen_values = true)]
    pub near: Option<tpb::GeoPoint>,
    /// The radius around --near, in kilometres (a decimal: 2.5 or 2,5).
    #[arg(long, requires = "near", default_value = "10")]
    pub radius: String,
    /// At most this many lots; 0 for all.
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
}

/// Flags of `lots publish`.
#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["lots", "all"])))]
pub struct PublishArgs {
    /// The lots: `sites/SITE/lots/LOT`, all of one site.
    pub lots: Vec<String>,
    /// Every draft of --site that can be published, in one call.
    #[arg(long, requires = "site", conflicts_with = "lots")]
    pub all: bool,
    /// The site whose drafts --all publishes: `sites/ID` or `ID`.
    #[arg(long)]
    pub site: Option<String>,
}

/// Flags of `lots check`.
#[derive(Args, Debug)]
pub struct CheckArgs {
    /// The lot: `sites/SITE/lots/LOT`, whose reuse potential is "after check".
    pub lot: String,
    /// The check's result.
    #[arg(long, value_enum)]
    pub result: CheckOutcome,
    /// When the check was made: a date (2027-01-15) or an RFC 3339 time.
    #[arg(long, value_name = "DATE", value_parser = crate::dates::parse_start)]
    pub date: prost_types::Timestamp,
    /// Who made it (a diagnostician, a firm).
    #[arg(long)]
    pub by: String,
    /// What was found.
    #[arg(long, default_value = "")]
    pub note: String,
}

/// The result of a lot's check.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum CheckOutcome {
    /// The material may be reused: the lot may be published.
    Passed,
    /// The material may not be reused as is.
    Failed,
}

/// A lot named on the command line.
#[derive(Args, Debug)]
pub struct NameArgs {
    /// The lot: `sites/SITE/lots/LOT`.
    pub lot: String,
}

/// Flags of `lots withdraw`.
#[derive(Args, Debug)]
pub struct WithdrawArgs {
    /// The lot: `sites/SITE/lots/LOT`.
    pub lot: String,
    /// Why the lot is withdrawn.
    #[arg(long, default_value = "")]
    pub reason: String,
}

/// `lots check`: records a lot's check (lead, structure).
async fn record_check(ctx: &Ctx, a: CheckArgs) -> Result<pb::Lot, CliError> {
    let mut inv = ctx.connect().await?.inventory();
    let result = match a.result {
        CheckOutcome::Passed => pb::CheckResult::Passed,
        CheckOutcome::Failed => pb::CheckResult::Failed,
    };
    answer(
        inv.record_lot_check(pb::RecordLotCheckRequest {
            name: a.lot,
            etag: String::new(),
            check: Some(pb::LotCheck {
                check_time: Some(a.date),
                result: result as i32,
                checked_by: a.by,
                note: a.note,
                recorded_by: String::new(),
            }),
        })
        .await,
    )
}

/// Runs a `lots` subcommand.
pub async fn run(ctx: &Ctx, cmd: LotsCommand) -> Result<(), CliError> {
    let lot = match cmd {
        LotsCommand::Import(a) => return lots_import::run(ctx, a).await,
        LotsCommand::List(a) => return list(ctx, a).await,
        LotsCommand::Create(a) => {
            let lot = lot_from_flags(&a)?;
            let mut inv = ctx.connect().await?.inventory();
            let lot = answer(
                inv.create_lot(pb::CreateLotRequest {
                    parent: site_name(&a.site),
                    lot: Some(lot),
                    request_id: a.request_id.unwrap_or_else(request_id),
                    lot_id: a.id.clone().unwrap_or_default(),
                })
                .await,
            )?;
            if ctx.format == Format::Table {
                if lot.hazardous {
                    note("note: this lot is hazardous and can never be published");
                } else {
                    note(&format!("next: reemploi lots publish {}", lot.name));
                }
            }
            lot
        }
        LotsCommand::Show(a) => {
            let mut inv = ctx.connect().await?.inventory();
            answer(inv.get_lot(pb::GetLotRequest { name: a.lot }).await)?
        }
        LotsCommand::Publish(a) => return publish(ctx, a).await,
        LotsCommand::Update(a) => return super::updates::lot(ctx, a).await,
        LotsCommand::Delete(a) => {
            let mut inv = ctx.connect().await?.inventory();
            answer(
                inv.delete_lot(pb::DeleteLotRequest {
                    name: a.lot.clone(),
                    etag: String::new(),
                })
                .await,
            )?;
            return emit(ctx.format, json!({ "deleted": a.lot }), || {
                format!("deleted {}\n", a.lot)
            });
        }
        LotsCommand::Check(a) => record_check(ctx, a).await?,
        LotsCommand::Withdraw(a) => {
            let mut inv = ctx.connect().await?.inventory();
            answer(
                inv.withdraw_lot(pb::WithdrawLotRequest {
                    name: a.lot,
                    etag: String::new(),
                    reason: a.reason,
                })
                .await,
            )?
        }
    };
    emit(ctx.format, crate::json::message(&lot), || {
        views::lot_text(&lot)
    })
}

/// `lots publish`: one lot, several of one site (all or none), or every
/// draft of a site that can be.
async fn publish(ctx: &Ctx, a: PublishArgs) -> Result<(), CliError> {
    let mut inv = ctx.connect().await?.inventory();
    if let [lot] = &a.lots[..] {
        let lot = answer(
            inv.publish_lot(pb::PublishLotRequest {
                name: lot.clone(),
                etag: String::new(),
            })
            .await,
        )?;
        return emit(ctx.format, crate::json::message(&lot), || {
            views::lot_text(&lot)
        });
    }
    let parent = match &a.site {
        Some(site) => site_name(site),
        // Names are `sites/S/lots/L`: the parent is their first two segments.
        None => a.lots[0].split('/').take(2).collect::<Vec<_>>().join("/"),
    };
    let done = answer(
        inv.batch_publish_lots(pb::BatchPublishLotsRequest {
            parent,
            names: a.lots,
            all_drafts: a.all,
            include_after_check: false,
        })
        .await,
    )?;
    emit(ctx.format, crate::json::message(&done), || {
        let mut text = format!("published {} lot(s)\n", done.lots.len());
        for lot in &done.lots {
            text.push_str(&format!("  {}  {}\n", lot.name, lot.designation));
        }
        if !done.held.is_empty() {
            text.push_str(&format!("left as drafts: {}\n", done.held.len()));
            for held in &done.held {
                text.push_str(&format!("  {}  {}\n", held.name, held.reason));
            }
        }
        text
    })
}

/// The lot the flags of `lots create` describe, checked like an imported row.
fn lot_from_flags(a: &CreateArgs) -> Result<pb::Lot, CliError> {
    let bad = |e: reemploi_domain::DomainError| CliError::Usage(e.to_string());
    let unit = Unit::parse(&a.unit).map_err(bad)?;
    let quantity = Quantity::parse_decimal(&a.quantity, unit)
        .and_then(Quantity::whole_if_counted)
        .map_err(bad)?;
    let category = category::parse(&a.category).map_err(bad)?;
    let mass_g = match &a.mass_kg {
        None => 0,
        Some(m) => Quantity::parse_decimal(m, Unit::Kilogram)
            .map_err(bad)?
            .milli(),
    };
    let waste_code = match &a.waste_code {
        None => String::new(),
        Some(w) => WasteCode::parse(w).map_err(bad)?.to_string(),
    };
    let hazards = a
        .hazard
        .iter()
        .map(|h| Hazard::parse(h).map_err(bad))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(pb::Lot {
        designation: a.designation.clone(),
        category: category.code.to_owned(),
        quantity: Some(tpb::Quantity {
            unit: unit_to_proto(unit) as i32,
            milli: quantity.milli(),
        }),
        estimated_mass_g: mass_g,
        waste_code,
        hazards: hazards
            .into_iter()
            .map(|h| import::lots::hazard_proto(h) as i32)
            .collect(),
        reference: a.reference.clone(),
        condition: a.condition.clone(),
        building_location: a.location.clone(),
        ..Default::default()
    })
    .map(|mut lot| {
        a.details.clone().fill(&mut lot);
        lot
    })
}

type Inventory = reemploi_proto::inventory::inventory_service_client::InventoryServiceClient<
    crate::client::Authed,
>;

/// Every lot the filters select, all pages up to the limit.
pub async fn fetch_lots(
    inv: &Inventory,
    parent: String,
    status: Option<pb::LotStatus>,
    category: String,
    text: String,
    limit: usize,
) -> Result<Vec<pb::Lot>, CliError> {
    let filters = pb::ListLotsRequest {
        parent,
        category,
        status: status.map_or(0, |s| s as i32),
        text,
        ..Default::default()
    };
    fetch_lots_with(inv, &filters, limit).await
}

/// Every lot `filters` (a ListLots request without paging) select, all
/// pages up to the limit.
async fn fetch_lots_with(
    inv: &Inventory,
    filters: &pb::ListLotsRequest,
    limit: usize,
) -> Result<Vec<pb::Lot>, CliError> {
    pages(limit, |page_token, page_size| {
        let mut inv = inv.clone();
        let req = pb::ListLotsRequest {
            page_size,
            page_token,
            ..filters.clone()
        };
        async move {
            let r = answer(inv.list_lots(req).await)?;
            Ok((r.lots, r.next_page_token))
        }
    })
    .await
}

/// `LAT,LON` in decimal degrees.
fn parse_point(text: &str) -> Result<tpb::GeoPoint, String> {
    let (lat, lon) = text
        .split_once(',')
        .ok_or_else(|| format!("`{text}` is not LAT,LON (e.g. 47.75,7.30)"))?;
    let number = |s: &str| {
        s.trim()
            .parse::<f64>()
            .map_err(|_| format!("`{s}` is not a number of degrees"))
    };
    let point = GeoPoint::new(number(lat)?, number(lon)?).map_err(|e| e.to_string())?;
    Ok(tpb::GeoPoint {
        latitude: point.latitude(),
        longitude: point.longitude(),
    })
}

async fn list(ctx: &Ctx, a: ListArgs) -> Result<(), CliError> {
    let inv = ctx.connect().await?.inventory();
    let parent = a
        .site
        .as_deref()
        .map_or_else(|| "sites/-".to_owned(), site_name);
    let radius_m = match a.near {
        Some(_) => Quantity::parse_decimal(&a.radius, Unit::Kilogram)
            .ok()
            .filter(|km| km.milli() > 0)
            .ok_or_else(|| {
                CliError::Usage(format!("--radius: `{}` is not a distance in km", a.radius))
            })?
            // Thousandths of a kilometre are metres.
            .milli(),
        None => 0,
    };
    let filters = pb::ListLotsRequest {
        parent,
        category: a.category.unwrap_or_default(),
        status: a.status.map_or(0, |s| StatusFilter::proto(s) as i32),
        text: a.text.unwrap_or_default(),
        near: a.near,
        radius_m,
        ..Default::default()
    };
    // Around a point, every lot in the radius is read, so that the ones
    // kept under --limit are the nearest, not the first the server lists.
    let read_limit = if a.near.is_some() { 0 } else { a.limit };
    let lots = fetch_lots_with(&inv, &filters, read_limit).await?;
    match a.near {
        Some(near) => list_near(ctx, lots, near, a.limit),
        None => emit_list(
            ctx.format,
            &lots,
            crate::json::message,
            views::LOT_COLUMNS,
            views::lot_row,
            "lot",
        ),
    }
}

/// Lots found around `near`, nearest first, each with its distance.
fn list_near(
    ctx: &Ctx,
    lots: Vec<pb::Lot>,
    near: tpb::GeoPoint,
    limit: usize,
) -> Result<(), CliError> {
    let from = GeoPoint::new(near.latitude, near.longitude)
        .map_err(|e| CliError::Usage(format!("--near: {e}")))?;
    let distance = |l: &pb::Lot| {
        l.location
            .and_then(|at| GeoPoint::new(at.latitude, at.longitude).ok())
            .map_or(f64::INFINITY, |at| at.distance_m(from))
    };
    let mut found: Vec<(f64, pb::Lot)> = lots.into_iter().map(|l| (distance(&l), l)).collect();
    found.sort_by(|a, b| a.0.total_cmp(&b.0));
    if limit != 0 && found.len() > limit {
        found.truncate(limit);
        note(&format!(
            "the nearest {limit} shown; more with --limit {} (or --limit 0 for all)",
            limit.saturating_mul(2)
        ));
    }
    let columns: Vec<&'static str> = views::LOT_COLUMNS
        .iter()
        .copied()
        .chain(["DISTANCE"])
        .collect();
    emit_list(
        ctx.format,
        &found,
        |(d, l)| {
            let mut json = crate::json::message(l);
            json["distanceM"] = json!(d.round());
            json
        },
        &columns,
        |(d, l)| {
            let mut row = views::lot_row(l);
            // Display only: whole metres fit an i64.
            #[allow(clippy::cast_possible_truncation)]
            row.push(views::km(d.round() as i64));
            row
        },
        "lot",
    )
}
