//! `reemploi proposals`: the lots matching proposed, as a partner sees them
//! (its own, newest first; listing them marks the new ones seen) or a site
//! manager (who its lots were proposed to); a partner declines one, and
//! that lot is never proposed to it again.

use clap::{Args, Subcommand, ValueEnum};
use reemploi_proto::matching as mpb;
use reemploi_proto::matching::matching_service_client::MatchingServiceClient;

use super::matching::{label, lot_label, lots, partner_names};
use super::{Ctx, pages};
use crate::CliError;
use crate::client::{Authed, answer, partner_name, proposal_name, site_name};
use crate::output::{emit, emit_list, fields};
use crate::views;

/// The `proposals` subcommands.
#[derive(Subcommand, Debug)]
pub enum ProposalsCommand {
    /// Lists proposals, newest first: a partner's own (listing them marks
    /// the new ones seen), a site manager's lots', or every one (admins).
    #[command(
        after_help = "Examples:\n  reemploi proposals list                                  # as a partner: what was proposed to it\n  reemploi proposals list --site coteaux-a --status declined\n  reemploi proposals list --lot sites/…/lots/… -o csv"
    )]
    List(ListArgs),
    /// A partner declines a proposal: that lot is never proposed to it
    /// again. Declining again changes nothing.
    #[command(
        after_help = "Example:\n  reemploi proposals decline proposals/… --reason \"Pas de place avant mars\""
    )]
    Decline(DeclineArgs),
}

/// A proposal status to filter on.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum StatusFilter {
    /// Not yet listed by its partner.
    New,
    /// Listed by its partner.
    Seen,
    /// Declined by its partner.
    Declined,
    /// Its partner claimed the lot.
    Claimed,
}

impl StatusFilter {
    fn to_proto(self) -> mpb::ProposalStatus {
        match self {
            StatusFilter::New => mpb::ProposalStatus::New,
            StatusFilter::Seen => mpb::ProposalStatus::Seen,
            StatusFilter::Declined => mpb::ProposalStatus::Declined,
            StatusFilter::Claimed => mpb::ProposalStatus::Claimed,
        }
    }
}

/// Flags of `proposals list`.
#[derive(Args, Debug)]
pub struct ListArgs {
    /// Only the proposals made to this partner (`partners/ID` or `ID`).
    #[arg(long)]
    pub partner: Option<String>,
    /// Only the proposals of this site's lots (`sites/ID` or `ID`).
    #[arg(long, conflicts_with = "lot")]
    pub site: Option<String>,
    /// Only the proposals of this lot (`sites/SITE/lots/LOT`).
    #[arg(long)]
    pub lot: Option<String>,
    /// Only proposals in this status.
    #[arg(long, value_enum)]
    pub status: Option<StatusFilter>,
    /// At most this many proposals; 0 for all.
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
}

/// Flags of `proposals decline`.
#[derive(Args, Debug)]
pub struct DeclineArgs {
    /// The proposal: `proposals/ID` or `ID`, as `proposals list` shows it.
    pub proposal: String,
    /// Why (the site sees it).
    #[arg(long, default_value = "")]
    pub reason: String,
}

/// Columns of `proposals list`.
const COLUMNS: &[&str] = &[
    "CREATED", "LOT", "PARTNER", "SCORE", "DISTANCE", "STATUS", "REASON", "NAME",
];

/// Runs a `proposals` subcommand.
pub async fn run(ctx: &Ctx, cmd: ProposalsCommand) -> Result<(), CliError> {
    let mut matching = ctx.connect().await?.matching();
    match cmd {
        ProposalsCommand::List(a) => list(ctx, &matching, a).await,
        ProposalsCommand::Decline(a) => {
            let declined = answer(
                matching
                    .decline_proposal(mpb::DeclineProposalRequest {
                        name: proposal_name(&a.proposal),
                        reason: a.reason,
                    })
                    .await,
            )?;
            emit(ctx.format, crate::json::message(&declined), || {
                proposal_text(&declined)
            })
        }
    }
}

/// `proposals list`: every page up to the limit, with the lots' and the
/// partners' names.
async fn list(
    ctx: &Ctx,
    matching: &MatchingServiceClient<Authed>,
    a: ListArgs,
) -> Result<(), CliError> {
    let partner = a.partner.as_deref().map(partner_name).unwrap_or_default();
    let site = a.site.as_deref().map(site_name).unwrap_or_default();
    let lot = a.lot.unwrap_or_default();
    let status = a.status.map_or(0, |s| s.to_proto() as i32);
    let found = pages(a.limit, |page_token, page_size| {
        let mut matching = matching.clone();
        let req = mpb::ListProposalsRequest {
            partner: partner.clone(),
            site: site.clone(),
            lot: lot.clone(),
            status,
            page_size,
            page_token,
        };
        async move {
            let r = answer(matching.list_proposals(req).await)?;
            Ok((r.proposals, r.next_page_token))
        }
    })
    .await?;
    let conn = ctx.connect().await?;
    let matched: Vec<mpb::Match> = found
        .iter()
        .map(|p| p.r#match.clone().unwrap_or_default())
        .collect();
    let names = partner_names(&conn, matched.iter().map(|m| &m.partner)).await;
    let lots = lots(&conn, matched.iter().map(|m| &m.lot)).await;
    let shown: Vec<(&mpb::MatchProposal, &mpb::Match)> = found.iter().zip(&matched).collect();
    emit_list(
        ctx.format,
        &shown,
        |(p, _)| crate::json::message(*p),
        COLUMNS,
        |(p, m)| {
            vec![
                views::timestamp(p.create_time.as_ref()),
                lot_label(&lots, &m.lot),
                label(&names, &m.partner).to_owned(),
                views::fr(&format!("{:.2}", m.score)),
                views::km(m.distance_m),
                status_short(p.status),
                p.decline_reason.clone(),
                p.name.clone(),
            ]
        },
        "proposal",
    )
}

/// A proposal status for people: `declined`.
fn status_short(v: i32) -> String {
    mpb::ProposalStatus::try_from(v)
        .map_or("PROPOSAL_STATUS_UNKNOWN", |s| s.as_str_name())
        .trim_start_matches("PROPOSAL_STATUS_")
        .to_lowercase()
}

/// One proposal for people.
fn proposal_text(p: &mpb::MatchProposal) -> String {
    let m = p.r#match.clone().unwrap_or_default();
    fields(&[
        ("name", p.name.clone()),
        ("lot", m.lot),
        ("partner", m.partner),
        ("score", views::fr(&format!("{:.2}", m.score))),
        ("distance", views::km(m.distance_m)),
        ("status", status_short(p.status)),
        ("proposed", views::timestamp(p.create_time.as_ref())),
        ("declined", views::timestamp(p.decline_time.as_ref())),
        ("reason", p.decline_reason.clone()),
    ])
}
