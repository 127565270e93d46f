//! `reemploi claim` and `reemploi claims`: a partner claims part of a lot;
//! the site confirms, rejects or records the hand-over (in one trip or
//! several, each with its receipt) and closes a claim partly collected;
//! either may cancel.

use std::collections::HashMap;
use std::sync::LazyLock;

use clap::builder::PossibleValue;
use clap::{Args, Subcommand, ValueEnum};
use reemploi_domain::claim::ClaimStatus;
use reemploi_domain::quantity::{Quantity, Unit};
use reemploi_inventory::model::claim_status_proto;
use reemploi_proto::inventory as pb;
use reemploi_proto::inventory::inventory_service_client::InventoryServiceClient;
use reemploi_proto::types as tpb;
use reemploi_runtime::auth::unverified_claims;

use super::{Ctx, pages, request_id};
use crate::CliError;
use crate::client::{Authed, answer, partner_name, site_name};
use crate::output::{Format, emit, emit_list, note};
use crate::views;

/// `partners/ID` of the token the CLI presents, if it is a partner's.
pub(crate) fn token_partner(ctx: &Ctx) -> Option<String> {
    let claims = unverified_claims(ctx.settings.token.as_deref()?).ok()?;
    claims.partner.map(|p| partner_name(&p))
}

/// Flags of `claim`.
#[derive(Args, Debug)]
pub struct ClaimArgs {
    /// The lot: `sites/SITE/lots/LOT`.
    pub lot: String,
    /// The claiming partner: `partners/ID` or `ID` (a partner claims for
    /// itself). Defaults to the partner of the logged-in token.
    #[arg(long)]
    pub partner: Option<String>,
    /// How much, in the lot's unit (a decimal: 12 or 12.5).
    #[arg(long)]
    pub quantity: String,
    /// Idempotency key: a retry with it returns the first claim instead of
    /// claiming twice. Generated when absent.
    #[arg(long)]
    pub request_id: Option<String>,
    /// A note for the site.
    #[arg(long, default_value = "")]
    pub note: String,
    /// When the partner wishes to collect, from: a date (2027-01-15) or an
    /// RFC 3339 time.
    #[arg(long, value_name = "DATE", value_parser = crate::dates::parse_start)]
    pub pickup_from: Option<prost_types::Timestamp>,
    /// Until (the day given is included).
    #[arg(long, value_name = "DATE", value_parser = crate::dates::parse_end)]
    pub pickup_to: Option<prost_types::Timestamp>,
}

/// The `claims` subcommands.
#[derive(Subcommand, Debug)]
pub enum ClaimsCommand {
    /// The site confirms a reserved claim: it no longer expires.
    #[command(after_help = "Example:\n  reemploi claims confirm sites/…/lots/…/claims/…")]
    Confirm(NameArgs),
    /// The site rejects a claim; its quantity returns to the lot.
    #[command(
        after_help = "Example:\n  reemploi claims reject sites/…/lots/…/claims/… --reason \"already promised\""
    )]
    Reject(ReasonArgs),
    /// The partner or the site cancels a claim; its quantity returns to the lot.
    #[command(
        after_help = "Example:\n  reemploi claims cancel sites/…/lots/…/claims/… --reason \"truck broke down\""
    )]
    Cancel(ReasonArgs),
    /// Records one trip of a confirmed claim's pick-up with the weighed
    /// mass: all that is left, or --quantity of it. The claim is handed
    /// over once all is collected.
    #[command(
        after_help = "Examples:\n  reemploi claims handover sites/…/lots/…/claims/… --mass-kg 1250.5\n  reemploi claims handover sites/…/lots/…/claims/… --quantity 8 --mass-kg 196"
    )]
    Handover(HandoverArgs),
    /// The site closes a claim partly collected with what was collected;
    /// the rest returns to the lot.
    #[command(
        after_help = "Example:\n  reemploi claims close sites/…/lots/…/claims/… --reason \"the rest is broken\""
    )]
    Close(ReasonArgs),
    /// Lists the receipts (bons d'enlèvement) of a claim's trips, or of a
    /// site's.
    #[command(
        after_help = "Examples:\n  reemploi claims receipts sites/…/lots/…/claims/…\n  reemploi claims receipts --site coteaux-a"
    )]
    Receipts(ReceiptsArgs),
    /// Shows one receipt.
    #[command(
        after_help = "Example:\n  reemploi claims receipt sites/…/lots/…/claims/…/receipts/…"
    )]
    Receipt(ReceiptArgs),
    /// Shows one claim.
    #[command(after_help = "Example:\n  reemploi claims show sites/…/lots/…/claims/…")]
    Show(NameArgs),
    /// Lists claims (of one lot, or of every lot).
    #[command(
        after_help = "Examples:\n  reemploi claims list --status reserved\n  reemploi claims list --site coteaux-a --status confirmed\n  reemploi claims list --lot sites/…/lots/… --partner partners/…"
    )]
    List(ListArgs),
}

/// A claim named on the command line.
#[derive(Args, Debug)]
pub struct NameArgs {
    /// The claim: `sites/SITE/lots/LOT/claims/CLAIM`.
    pub claim: String,
}

/// A claim and a reason.
#[derive(Args, Debug)]
pub struct ReasonArgs {
    /// The claim: `sites/SITE/lots/LOT/claims/CLAIM`.
    pub claim: String,
    /// Why.
    #[arg(long, default_value = "")]
    pub reason: String,
}

/// Flags of `claims handover`.
#[derive(Args, Debug)]
pub struct HandoverArgs {
    /// The claim: `sites/SITE/lots/LOT/claims/CLAIM`.
    pub claim: String,
    /// The mass weighed at pick-up, in kilograms (up to 3 decimals). The
    /// server refuses one far above the lot's estimate unless
    /// --unexpected-mass is given.
    #[arg(long)]
    pub mass_kg: String,
    /// Records a weighed mass far above what the lot's estimate gives the
    /// trip's quantity (a real surprise at the scale).
    #[arg(long)]
    pub unexpected_mass: bool,
    /// The quantity taken on this trip, in the lot's unit (a decimal: 8 or
    /// 2.5; whole for pieces). All that is left when absent.
    #[arg(long)]
    pub quantity: Option<String>,
    /// Idempotency key: a retry with it records the trip once.
    #[arg(long)]
    pub request_id: Option<String>,
}

/// Flags of `claims receipts`.
#[derive(Args, Debug)]
pub struct ReceiptsArgs {
    /// The claim: `sites/SITE/lots/LOT/claims/CLAIM`.
    #[arg(required_unless_present = "site", conflicts_with = "site")]
    pub claim: Option<String>,
    /// Every receipt of this site (`sites/ID` or `ID`).
    #[arg(long)]
    pub site: Option<String>,
    /// At most this many receipts; 0 for all.
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
}

/// A receipt named on the command line.
#[derive(Args, Debug)]
pub struct ReceiptArgs {
    /// The receipt: `sites/SITE/lots/LOT/claims/CLAIM/receipts/RECEIPT`.
    pub receipt: String,
}

/// A claim status to filter on: each of the domain's, with the name and
/// help the command line shows for it.
#[derive(Debug, Clone, Copy)]
pub struct StatusFilter(pub ClaimStatus);

impl ValueEnum for StatusFilter {
    fn value_variants<'a>() -> &'a [Self] {
        static ALL: LazyLock<[StatusFilter; ClaimStatus::ALL.len()]> =
            LazyLock::new(|| ClaimStatus::ALL.map(StatusFilter));
        &*ALL
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        let (name, help) = match self.0 {
            ClaimStatus::Reserved => ("reserved", "Reserved, awaiting confirmation"),
            ClaimStatus::Confirmed => ("confirmed", "Confirmed, awaiting pick-up"),
            ClaimStatus::HandedOver => ("handed-over", "Picked up"),
            ClaimStatus::Rejected => ("rejected", "Rejected by the site"),
            ClaimStatus::Cancelled => ("cancelled", "Cancelled"),
            ClaimStatus::Expired => ("expired", "Not confirmed in time"),
        };
        Some(PossibleValue::new(name).help(help))
    }
}

/// Flags of `claims list`.
#[derive(Args, Debug)]
pub struct ListArgs {
    /// Only the claims of this lot (`sites/SITE/lots/LOT`).
    #[arg(long, conflicts_with = "site")]
    pub lot: Option<String>,
    /// Only the claims of this site's lots (`sites/ID` or `ID`).
    #[arg(long)]
    pub site: Option<String>,
    /// Only the claims of this partner.
    #[arg(long)]
    pub partner: Option<String>,
    /// Only claims in this status.
    #[arg(long, value_enum)]
    pub status: Option<StatusFilter>,
    /// At most this many claims; 0 for all.
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
}

/// `reemploi claim`: reads the lot for its unit, then claims.
pub async fn claim(ctx: &Ctx, a: ClaimArgs) -> Result<(), CliError> {
    let partner = match a.partner {
        Some(p) => partner_name(&p),
        None => token_partner(ctx).ok_or_else(|| {
            CliError::Usage(
                "--partner is required: the logged-in token is not a partner's".to_owned(),
            )
        })?,
    };
    let mut inv = ctx.connect().await?.inventory();
    let lot = answer(
        inv.get_lot(pb::GetLotRequest {
            name: a.lot.clone(),
        })
        .await,
    )?;
    let unit_number = lot.quantity.map_or(0, |q| q.unit);
    let unit = reemploi_inventory::model::unit_from_proto(unit_number)
        .map_err(|e| CliError::Usage(format!("the lot's unit: {e}")))?;
    let quantity = Quantity::parse_decimal(&a.quantity, unit)
        .map_err(|e| CliError::Usage(format!("--quantity: {e}")))?;
    let claim = answer(
        inv.claim_lot(pb::ClaimLotRequest {
            lot: a.lot,
            partner,
            quantity: Some(tpb::Quantity {
                unit: unit_number,
                milli: quantity.milli(),
            }),
            pickup_window: (a.pickup_from.is_some() || a.pickup_to.is_some()).then_some(
                tpb::TimeWindow {
                    start_time: a.pickup_from,
                    end_time: a.pickup_to,
                },
            ),
            request_id: a.request_id.unwrap_or_else(request_id),
            note: a.note,
        })
        .await,
    )?;
    if ctx.format == Format::Table {
        note(&format!(
            "reserved; the site confirms with `reemploi claims confirm {}`",
            claim.name
        ));
    }
    emit(ctx.format, crate::json::message(&claim), || {
        views::claim_text(&claim)
    })
}

/// Runs a `claims` subcommand.
pub async fn run(ctx: &Ctx, cmd: ClaimsCommand) -> Result<(), CliError> {
    let mut inv = ctx.connect().await?.inventory();
    let claim = match cmd {
        ClaimsCommand::List(a) => return list(ctx, &inv, a).await,
        ClaimsCommand::Show(a) => {
            answer(inv.get_claim(pb::GetClaimRequest { name: a.claim }).await)?
        }
        ClaimsCommand::Confirm(a) => answer(
            inv.confirm_claim(pb::ConfirmClaimRequest {
                name: a.claim,
                etag: String::new(),
            })
            .await,
        )?,
        ClaimsCommand::Reject(a) => answer(
            inv.reject_claim(pb::RejectClaimRequest {
                name: a.claim,
                etag: String::new(),
                reason: a.reason,
            })
            .await,
        )?,
        ClaimsCommand::Cancel(a) => answer(
            inv.cancel_claim(pb::CancelClaimRequest {
                name: a.claim,
                etag: String::new(),
                reason: a.reason,
            })
            .await,
        )?,
        ClaimsCommand::Handover(a) => handover(&mut inv, a).await?,
        ClaimsCommand::Close(a) => answer(
            inv.close_claim(pb::CloseClaimRequest {
                name: a.claim,
                etag: String::new(),
                reason: a.reason,
            })
            .await,
        )?,
        ClaimsCommand::Receipts(a) => return receipts(ctx, &inv, a).await,
        ClaimsCommand::Receipt(a) => {
            let receipt = answer(
                inv.get_receipt(pb::GetReceiptRequest { name: a.receipt })
                    .await,
            )?;
            return emit(ctx.format, crate::json::message(&receipt), || {
                views::receipt_text(&receipt)
            });
        }
    };
    emit(ctx.format, crate::json::message(&claim), || {
        views::claim_text(&claim)
    })
}

/// `claims handover`: one trip, its quantity said in the claim's unit
/// (read first) when given.
async fn handover(
    inv: &mut InventoryServiceClient<Authed>,
    a: HandoverArgs,
) -> Result<pb::Claim, CliError> {
    // Thousandths of a kilogram are grams.
    let grams = Quantity::parse_decimal(&a.mass_kg, Unit::Kilogram)
        .map_err(|e| CliError::Usage(format!("--mass-kg: {e}")))?
        .milli();
    let quantity = match a.quantity {
        Some(text) => {
            let claim = answer(
                inv.get_claim(pb::GetClaimRequest {
                    name: a.claim.clone(),
                })
                .await,
            )?;
            let unit_number = claim.quantity.map_or(0, |q| q.unit);
            let unit = reemploi_inventory::model::unit_from_proto(unit_number)
                .map_err(|e| CliError::Usage(format!("the claim's unit: {e}")))?;
            let q = Quantity::parse_decimal(&text, unit)
                .map_err(|e| CliError::Usage(format!("--quantity: {e}")))?;
            Some(tpb::Quantity {
                unit: unit_number,
                milli: q.milli(),
            })
        }
        None => None,
    };
    answer(
        inv.record_handover(pb::RecordHandoverRequest {
            name: a.claim,
            weighed_mass_g: grams,
            handover_time: None,
            etag: String::new(),
            accept_unexpected_mass: a.unexpected_mass,
            quantity,
            request_id: a.request_id.unwrap_or_default(),
        })
        .await,
    )
}

/// `claims receipts`: every page up to the limit.
async fn receipts(
    ctx: &Ctx,
    inv: &InventoryServiceClient<Authed>,
    a: ReceiptsArgs,
) -> Result<(), CliError> {
    let parent = match (a.claim, a.site) {
        (Some(claim), _) => claim,
        (None, Some(site)) => format!("{}/lots/-/claims/-", site_name(&site)),
        (None, None) => {
            return Err(CliError::Usage(
                "name a claim, or a site with --site".to_owned(),
            ));
        }
    };
    let receipts = pages(a.limit, |page_token, page_size| {
        let mut inv = inv.clone();
        let req = pb::ListReceiptsRequest {
            parent: parent.clone(),
            page_size,
            page_token,
        };
        async move {
            let r = answer(inv.list_receipts(req).await)?;
            Ok((r.receipts, r.next_page_token))
        }
    })
    .await?;
    emit_list(
        ctx.format,
        &receipts,
        crate::json::message,
        views::RECEIPT_COLUMNS,
        views::receipt_row,
        "receipt",
    )
}

/// `claims list`: every page up to the limit.
async fn list(
    ctx: &Ctx,
    inv: &InventoryServiceClient<Authed>,
    a: ListArgs,
) -> Result<(), CliError> {
    let parent = match (a.lot, a.site) {
        (Some(lot), _) => lot,
        (None, Some(site)) => format!("{}/lots/-", site_name(&site)),
        (None, None) => "sites/-/lots/-".to_owned(),
    };
    let partner = a.partner.as_deref().map(partner_name).unwrap_or_default();
    let status = a.status.map_or(0, |s| claim_status_proto(s.0) as i32);
    let claims = pages(a.limit, |page_token, page_size| {
        let mut inv = inv.clone();
        let req = pb::ListClaimsRequest {
            parent: parent.clone(),
            page_size,
            page_token,
            partner: partner.clone(),
            status,
        };
        async move {
            let r = answer(inv.list_claims(req).await)?;
            Ok((r.claims, r.next_page_token))
        }
    })
    .await?;
    let shown = described(ctx, inv, claims).await?;
    emit_list(
        ctx.format,
        &shown,
        |(claim, about)| {
            let mut json = crate::json::message(claim);
            json["lotReference"] = about.lot_reference.clone().into();
            json["lotDesignation"] = about.lot_designation.clone().into();
            json["partnerDisplayName"] = about.partner.clone().into();
            json
        },
        views::CLAIM_LIST_COLUMNS,
        |(claim, about)| views::claim_list_row(claim, about),
        "claim",
    )
}

/// Each claim with what a person needs beside it: its lot's reference and
/// designation, its partner's name. Each lot and partner is read once; one
/// the caller may not read is shown by its name only.
async fn described(
    ctx: &Ctx,
    inv: &InventoryServiceClient<Authed>,
    claims: Vec<pb::Claim>,
) -> Result<Vec<(pb::Claim, views::ClaimAbout)>, CliError> {
    let mut lots: HashMap<String, Option<pb::Lot>> = HashMap::new();
    let mut partners: HashMap<String, Option<String>> = HashMap::new();
    let mut registry = ctx.connect().await?.registry();
    let mut shown = Vec::with_capacity(claims.len());
    for claim in claims {
        let lot_name = claim
            .name
            .rsplitn(3, '/')
            .nth(2)
            .unwrap_or_default()
            .to_owned();
        if !lots.contains_key(&lot_name) {
            let req = pb::GetLotRequest {
                name: lot_name.clone(),
            };
            let lot = inv.clone().get_lot(req).await.ok().map(|r| r.into_inner());
            lots.insert(lot_name.clone(), lot);
        }
        if !partners.contains_key(&claim.partner) {
            let req = reemploi_proto::registry::GetPartnerRequest {
                name: claim.partner.clone(),
            };
            let name = registry.get_partner(req).await.ok().map(|r| {
                let p = r.into_inner();
                if p.trade_name.trim().is_empty() {
                    p.legal_name
                } else {
                    p.trade_name
                }
            });
            partners.insert(claim.partner.clone(), name);
        }
        let lot = lots.get(&lot_name).cloned().flatten();
        let about = views::ClaimAbout {
            lot_reference: lot
                .as_ref()
                .map(|l| l.reference.clone())
                .unwrap_or_default(),
            lot_designation: lot.map(|l| l.designation).unwrap_or_default(),
            partner: partners
                .get(&claim.partner)
                .cloned()
                .flatten()
                .unwrap_or_else(|| claim.partner.clone()),
        };
        shown.push((claim, about));
    }
    Ok(shown)
}
