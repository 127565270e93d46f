//! `reemploi slots`: a site publishes pick-up slots, a partner books one
//! for a confirmed claim, the site reads its day of pick-ups.

use clap::{Args, Subcommand};
use reemploi_proto::inventory as pb;

use super::{Ctx, pages};
use crate::CliError;
use crate::client::{answer, site_name};
use crate::output::{emit, emit_list, note};
use crate::views::timestamp;

/// The `slots` subcommands.
#[derive(Subcommand, Debug)]
pub enum SlotsCommand {
    /// Publishes a pick-up slot of a site (its site managers).
    #[command(
        after_help = "Example:\n  reemploi slots create coteaux-b --start 2027-01-15T08:00:00Z --end 2027-01-15T10:00:00Z \\\n    --trucks 2 --contact \"Mme Keller\" --phone \"+33 3 89 00 00 00\" --access \"Portail nord\""
    )]
    Create(CreateArgs),
    /// Lists a site's pick-up slots, by start time.
    #[command(after_help = "Example:\n  reemploi slots list coteaux-b --from 2027-01-15")]
    List(ListArgs),
    /// Deletes a slot nobody booked.
    #[command(after_help = "Example:\n  reemploi slots delete sites/…/pickupSlots/…")]
    Delete(DeleteArgs),
    /// Books a slot for a confirmed claim (the claim's partner).
    #[command(
        after_help = "Example:\n  reemploi slots book sites/…/pickupSlots/… sites/…/lots/…/claims/…"
    )]
    Book(BookArgs),
    /// A site's pick-ups of a day (or up to 31 days): who comes when, for what.
    #[command(after_help = "Example:\n  reemploi slots pickups coteaux-b --from 2027-01-15")]
    Pickups(PickupsArgs),
}

/// Flags of `slots create`.
#[derive(Args, Debug)]
pub struct CreateArgs {
    /// The site: `sites/ID` or `ID`.
    pub site: String,
    /// When the slot opens (RFC 3339).
    #[arg(long, value_parser = crate::dates::parse_time)]
    pub start: prost_types::Timestamp,
    /// When it closes (RFC 3339), at most 24 hours later.
    #[arg(long, value_parser = crate::dates::parse_time)]
    pub end: prost_types::Timestamp,
    /// How many trucks it takes, 1 to 50.
    #[arg(long, default_value_t = 1)]
    pub trucks: i32,
    /// The on-site contact's name.
    #[arg(long)]
    pub contact: String,
    /// The on-site contact's phone.
    #[arg(long)]
    pub phone: String,
    /// How to get in (gate, badge, loading bay).
    #[arg(long, default_value = "")]
    pub access: String,
}

/// Flags of `slots list`.
#[derive(Args, Debug)]
pub struct ListArgs {
    /// The site: `sites/ID` or `ID`.
    pub site: String,
    /// Only slots starting from this day (a date or an RFC 3339 time).
    #[arg(long, value_name = "DATE", value_parser = crate::dates::parse_start)]
    pub from: Option<prost_types::Timestamp>,
    /// ... up to this day, included.
    #[arg(long, value_name = "DATE", value_parser = crate::dates::parse_end)]
    pub to: Option<prost_types::Timestamp>,
    /// At most this many slots; 0 for all.
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
}

/// A slot named on the command line.
#[derive(Args, Debug)]
pub struct DeleteArgs {
    /// The slot: `sites/SITE/pickupSlots/SLOT`.
    pub slot: String,
}

/// Flags of `slots book`.
#[derive(Args, Debug)]
pub struct BookArgs {
    /// The slot: `sites/SITE/pickupSlots/SLOT`.
    pub slot: String,
    /// The confirmed claim: `sites/SITE/lots/LOT/claims/CLAIM`.
    pub claim: String,
}

/// Flags of `slots pickups`.
#[derive(Args, Debug)]
pub struct PickupsArgs {
    /// The site: `sites/ID` or `ID`.
    pub site: String,
    /// The first day (a date or an RFC 3339 time).
    #[arg(long, value_name = "DATE", value_parser = crate::dates::parse_start)]
    pub from: prost_types::Timestamp,
    /// The last day, included; the first day when absent.
    #[arg(long, value_name = "DATE", value_parser = crate::dates::parse_end)]
    pub to: Option<prost_types::Timestamp>,
    /// At most this many pick-ups; 0 for all.
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
}

const SLOT_COLUMNS: &[&str] = &["NAME", "START", "END", "TRUCKS", "BOOKED", "CONTACT"];
const PICKUP_COLUMNS: &[&str] = &["START", "END", "PARTNER", "CLAIM"];

fn slot_row(s: &pb::PickupSlot) -> Vec<String> {
    vec![
        s.name.clone(),
        timestamp(s.start_time.as_ref()),
        timestamp(s.end_time.as_ref()),
        s.trucks.to_string(),
        s.booked.to_string(),
        format!("{} {}", s.contact_name, s.contact_phone),
    ]
}

fn pickup_row(b: &pb::PickupBooking) -> Vec<String> {
    vec![
        timestamp(b.start_time.as_ref()),
        timestamp(b.end_time.as_ref()),
        b.partner.clone(),
        b.claim.clone(),
    ]
}

/// Runs a `slots` subcommand.
pub async fn run(ctx: &Ctx, cmd: SlotsCommand) -> Result<(), CliError> {
    let mut inv = ctx.connect().await?.inventory();
    match cmd {
        SlotsCommand::Create(a) => {
            let slot = answer(
                inv.create_pickup_slot(pb::CreatePickupSlotRequest {
                    parent: site_name(&a.site),
                    pickup_slot: Some(pb::PickupSlot {
                        start_time: Some(a.start),
                        end_time: Some(a.end),
                        trucks: a.trucks,
                        access_instructions: a.access,
                        contact_name: a.contact,
                        contact_phone: a.phone,
                        ..Default::default()
                    }),
                })
                .await,
            )?;
            emit(ctx.format, crate::json::message(&slot), || {
                slot_row(&slot).join("  ")
            })
        }
        SlotsCommand::List(a) => {
            let parent = site_name(&a.site);
            let slots = pages(a.limit, |page_token, page_size| {
                let mut inv = inv.clone();
                let req = pb::ListPickupSlotsRequest {
                    parent: parent.clone(),
                    start_time: a.from,
                    end_time: a.to,
                    page_size,
                    page_token,
                };
                async move {
                    let r = answer(inv.list_pickup_slots(req).await)?;
                    Ok((r.pickup_slots, r.next_page_token))
                }
            })
            .await?;
            emit_list(
                ctx.format,
                &slots,
                crate::json::message,
                SLOT_COLUMNS,
                slot_row,
                "pick-up slot",
            )
        }
        SlotsCommand::Delete(a) => {
            answer(
                inv.delete_pickup_slot(pb::DeletePickupSlotRequest {
                    name: a.slot.clone(),
                })
                .await,
            )?;
            note(&format!("deleted {}", a.slot));
            Ok(())
        }
        SlotsCommand::Book(a) => {
            let booking = answer(
                inv.book_pickup_slot(pb::BookPickupSlotRequest {
                    name: a.slot,
                    claim: a.claim,
                })
                .await,
            )?;
            emit(ctx.format, crate::json::message(&booking), || {
                format!("{}  {}", booking.name, pickup_row(&booking).join("  "))
            })
        }
        SlotsCommand::Pickups(a) => pickups(ctx, &inv, a).await,
    }
}

/// `slots pickups`: every page up to the limit.
async fn pickups(
    ctx: &Ctx,
    inv: &reemploi_proto::inventory::inventory_service_client::InventoryServiceClient<
        crate::client::Authed,
    >,
    a: PickupsArgs,
) -> Result<(), CliError> {
    let parent = site_name(&a.site);
    // The last day given is included: without one, the first day's end.
    let end = match a.to {
        Some(end) => end,
        None => prost_types::Timestamp {
            seconds: a.from.seconds + 86_400,
            nanos: a.from.nanos,
        },
    };
    let bookings = pages(a.limit, |page_token, page_size| {
        let mut inv = inv.clone();
        let req = pb::ListPickupsRequest {
            parent: parent.clone(),
            start_time: Some(a.from),
            end_time: Some(end),
            page_size,
            page_token,
        };
        async move {
            let r = answer(inv.list_pickups(req).await)?;
            Ok((r.pickups, r.next_page_token))
        }
    })
    .await?;
    emit_list(
        ctx.format,
        &bookings,
        crate::json::message,
        PICKUP_COLUMNS,
        pickup_row,
        "pick-up",
    )
}
