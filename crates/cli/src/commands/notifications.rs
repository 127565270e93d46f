//! `reemploi notifications`: what the platform told the caller (a
//! structure's staff, a site manager, an admin), newest first; marking
//! them read; and the email preferences of the caller's account.

use clap::{Args, Subcommand, ValueEnum};
use reemploi_proto::notify as npb;

use super::{Ctx, pages};
use crate::CliError;
use crate::client::answer;
use crate::output::{emit, emit_list, fields};
use crate::views;

/// The `notifications` subcommands.
#[derive(Subcommand, Debug)]
pub enum NotificationsCommand {
    /// Lists the caller's notifications, newest first.
    #[command(
        after_help = "Examples:\n  reemploi notifications list --unread\n  reemploi notifications list -o csv > notifications.csv"
    )]
    List(ListArgs),
    /// Marks notifications read: those named, or all of them.
    #[command(
        after_help = "Examples:\n  reemploi notifications read notifications/…\n  reemploi notifications read --all"
    )]
    Read(ReadArgs),
    /// Shows the email preferences of the caller's account, one per kind.
    #[command(after_help = "Example:\n  reemploi notifications preferences -o json")]
    Preferences,
    /// Sets how one kind of notification is emailed to the caller's account.
    #[command(
        after_help = "Examples:\n  reemploi notifications email claim-reserved immediate\n  reemploi notifications email lot-proposed off"
    )]
    Email(EmailArgs),
}

/// Flags of `notifications list`.
#[derive(Args, Debug)]
pub struct ListArgs {
    /// Only those not read yet.
    #[arg(long)]
    pub unread: bool,
    /// At most this many notifications; 0 for all.
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
}

/// Flags of `notifications read`.
#[derive(Args, Debug)]
pub struct ReadArgs {
    /// The notifications (`notifications/ID` or `ID`, as listed).
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub names: Vec<String>,
    /// Every notification made up to now.
    #[arg(long)]
    pub all: bool,
}

/// A kind of notification.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum KindArg {
    /// A lot proposed to the structure.
    LotProposed,
    /// A lot meeting one of the structure's needs.
    NeedMatched,
    /// The structure's claim confirmed.
    ClaimConfirmed,
    /// The structure's claim rejected.
    ClaimRejected,
    /// The structure's reservation expiring within 24 hours.
    ReservationExpiring,
    /// A lot the structure claimed withdrawn.
    ClaimedLotWithdrawn,
    /// The structure verified.
    PartnerVerified,
    /// The structure suspended.
    PartnerSuspended,
    /// A lot of the site manager claimed.
    ClaimReserved,
    /// A claim on a lot of the site manager cancelled.
    ClaimCancelled,
    /// A pick-up booked on a site of the site manager.
    PickupBooked,
    /// A lot of the site manager expiring unclaimed.
    LotExpiring,
    /// A structure waiting for verification (admins).
    PartnerPending,
    /// An event set aside as a dead letter (admins).
    DeadLetter,
}

impl KindArg {
    fn to_proto(self) -> npb::NotificationKind {
        use npb::NotificationKind as K;
        match self {
            KindArg::LotProposed => K::LotProposed,
            KindArg::NeedMatched => K::NeedMatched,
            KindArg::ClaimConfirmed => K::ClaimConfirmed,
            KindArg::ClaimRejected => K::ClaimRejected,
            KindArg::ReservationExpiring => K::ReservationExpiring,
            KindArg::ClaimedLotWithdrawn => K::ClaimedLotWithdrawn,
            KindArg::PartnerVerified => K::PartnerVerified,
            KindArg::PartnerSuspended => K::PartnerSuspended,
            KindArg::ClaimReserved => K::ClaimReserved,
            KindArg::ClaimCancelled => K::ClaimCancelled,
            KindArg::PickupBooked => K::PickupBooked,
            KindArg::LotExpiring => K::LotExpiring,
            KindArg::PartnerPending => K::PartnerPending,
            KindArg::DeadLetter => K::DeadLetter,
        }
    }
}

/// How a kind is emailed.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ModeArg {
    /// Not at all (still in the app).
    Off,
    /// One email each, as they come.
    Immediate,
    /// In one email a day.
    Digest,
}

/// Flags of `notifications email`.
#[derive(Args, Debug)]
pub struct EmailArgs {
    /// The kind of notification.
    #[arg(value_enum)]
    pub kind: KindArg,
    /// How it is emailed.
    #[arg(value_enum)]
    pub mode: ModeArg,
}

/// Columns of `notifications list`.
const COLUMNS: &[&str] = &["CREATED", "KIND", "TITLE", "READ", "NAME"];

/// Runs a `notifications` subcommand.
pub async fn run(ctx: &Ctx, cmd: NotificationsCommand) -> Result<(), CliError> {
    let mut notify = ctx.connect().await?.notify();
    match cmd {
        NotificationsCommand::List(a) => {
            let found = pages(a.limit, |page_token, page_size| {
                let mut notify = notify.clone();
                let req = npb::ListNotificationsRequest {
                    unread_only: a.unread,
                    page_size,
                    page_token,
                };
                async move {
                    let r = answer(notify.list_notifications(req).await)?;
                    Ok((r.notifications, r.next_page_token))
                }
            })
            .await?;
            emit_list(
                ctx.format,
                &found,
                crate::json::message,
                COLUMNS,
                row,
                "notification",
            )
        }
        NotificationsCommand::Read(a) => {
            let names = a.names.iter().map(|n| notification_name(n)).collect();
            let req = npb::MarkNotificationsReadRequest { names, all: a.all };
            let left = answer(notify.mark_notifications_read(req).await)?.unread_count;
            emit(
                ctx.format,
                serde_json::json!({ "unreadCount": left.to_string() }),
                || format!("{left} unread"),
            )
        }
        NotificationsCommand::Preferences => {
            let prefs = answer(notify.get_preferences(npb::GetPreferencesRequest {}).await)?;
            emit(ctx.format, crate::json::message(&prefs), || {
                preferences_text(&prefs)
            })
        }
        NotificationsCommand::Email(a) => {
            let one = npb::Preference {
                kind: a.kind.to_proto() as i32,
                mode: mode_proto(a.mode) as i32,
            };
            let req = npb::UpdatePreferencesRequest {
                preferences: vec![one],
            };
            let prefs = answer(notify.update_preferences(req).await)?;
            emit(ctx.format, crate::json::message(&prefs), || {
                preferences_text(&prefs)
            })
        }
    }
}

fn mode_proto(m: ModeArg) -> npb::EmailMode {
    match m {
        ModeArg::Off => npb::EmailMode::Off,
        ModeArg::Immediate => npb::EmailMode::Immediate,
        ModeArg::Digest => npb::EmailMode::Digest,
    }
}

/// `notifications/ID` from `ID` or itself.
fn notification_name(n: &str) -> String {
    if n.starts_with("notifications/") {
        n.to_owned()
    } else {
        format!("notifications/{n}")
    }
}

/// An enum value for people: `claim-reserved`.
fn short(name: &str, prefix: &str) -> String {
    name.trim_start_matches(prefix)
        .to_lowercase()
        .replace('_', "-")
}

fn kind_short(v: i32) -> String {
    let name = npb::NotificationKind::try_from(v).map_or("UNKNOWN", |k| k.as_str_name());
    short(name, "NOTIFICATION_KIND_")
}

fn row(n: &npb::Notification) -> Vec<String> {
    vec![
        views::timestamp(n.create_time.as_ref()),
        kind_short(n.kind),
        n.title.clone(),
        if n.read_time.is_some() { "yes" } else { "no" }.to_owned(),
        n.name.clone(),
    ]
}

fn preferences_text(p: &npb::Preferences) -> String {
    let rows: Vec<(String, String)> = p
        .preferences
        .iter()
        .map(|x| {
            let mode = npb::EmailMode::try_from(x.mode).map_or("UNKNOWN", |m| m.as_str_name());
            (kind_short(x.kind), short(mode, "EMAIL_MODE_"))
        })
        .collect();
    let pairs: Vec<(&str, String)> = rows.iter().map(|(k, m)| (k.as_str(), m.clone())).collect();
    fields(&pairs)
}
