//! `reemploi sites`: create, list and show renovation and demolition sites.

use clap::{Args, Subcommand};
use reemploi_proto::inventory as pb;
use reemploi_proto::types as tpb;

use super::{Ctx, pages, request_id};
use crate::CliError;
use crate::client::{answer, site_name};
use crate::output::{emit, emit_list};
use crate::views;

/// The `sites` subcommands.
#[derive(Subcommand, Debug)]
pub enum SitesCommand {
    /// Creates a site (site managers create them for their own organisation).
    #[command(
        after_help = "Example:\n  reemploi sites create --id coteaux-b --name \"Coteaux – tour B\" --lat 47.746 --lon 7.301 \\\n    --owner-org m2a-habitat --programme NPNRU --quartier Coteaux --commune Mulhouse --insee 68224"
    )]
    Create(CreateArgs),
    /// Lists sites, newest first.
    #[command(
        after_help = "Examples:\n  reemploi sites list\n  reemploi sites list --text coteaux --output json"
    )]
    List(ListArgs),
    /// Shows one site.
    #[command(after_help = "Example:\n  reemploi sites show coteaux-b")]
    Show(ShowArgs),
    /// Changes the fields given of a site (the others stay as they are).
    #[command(
        after_help = "Examples:\n  reemploi sites update sites/… --name \"Coteaux – tour B\" --quartier Coteaux\n  reemploi sites update sites/… --works-from 2027-01-15 --works-to 2027-06-30"
    )]
    Update(super::updates::SiteArgs),
}

/// Flags of `sites create`.
#[derive(Args, Debug)]
pub struct CreateArgs {
    /// A human name, e.g. "Coteaux – démolition tour A".
    #[arg(long)]
    pub name: String,
    /// Latitude of the site, WGS84 decimal degrees.
    #[arg(long, allow_hyphen_values = true)]
    pub lat: f64,
    /// Longitude of the site, WGS84 decimal degrees.
    #[arg(long, allow_hyphen_values = true)]
    pub lon: f64,
    /// The organisation that owns the site (a site manager's own).
    #[arg(long, default_value = "")]
    pub owner_org: String,
    /// Postal address, free text.
    #[arg(long, default_value = "")]
    pub address: String,
    /// Urban renewal programme, e.g. NPNRU.
    #[arg(long, default_value = "")]
    pub programme: String,
    /// Quartier, e.g. Coteaux.
    #[arg(long, default_value = "")]
    pub quartier: String,
    /// Commune, e.g. Mulhouse.
    #[arg(long, default_value = "")]
    pub commune: String,
    /// The commune's INSEE code, e.g. 68224.
    #[arg(long, default_value = "")]
    pub insee: String,
    /// Idempotency key: repeating the command with it returns the first site.
    #[arg(long)]
    pub request_id: Option<String>,
    /// The site's id in its name, e.g. `coteaux-b` for `sites/coteaux-b`:
    /// lowercase letters, digits and hyphens, starting with a letter. A
    /// UUID is made when absent.
    #[arg(long)]
    pub id: Option<String>,
}

/// Flags of `sites list`.
#[derive(Args, Debug)]
pub struct ListArgs {
    /// Only the sites of this organisation.
    #[arg(long)]
    pub owner_org: Option<String>,
    /// Only sites whose name, quartier or commune contain this text.
    #[arg(long)]
    pub text: Option<String>,
    /// At most this many sites; 0 for all.
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
}

/// Flags of `sites show`.
#[derive(Args, Debug)]
pub struct ShowArgs {
    /// The site: `sites/ID` or `ID`.
    pub site: String,
}

/// Runs a `sites` subcommand.
pub async fn run(ctx: &Ctx, cmd: SitesCommand) -> Result<(), CliError> {
    match cmd {
        SitesCommand::Create(a) => create(ctx, a).await,
        SitesCommand::List(a) => list(ctx, a).await,
        SitesCommand::Update(a) => super::updates::site(ctx, a).await,
        SitesCommand::Show(a) => {
            let mut inv = ctx.connect().await?.inventory();
            let site = answer(
                inv.get_site(pb::GetSiteRequest {
                    name: site_name(&a.site),
                })
                .await,
            )?;
            emit(ctx.format, crate::json::message(&site), || {
                views::site_text(&site)
            })
        }
    }
}

/// `sites create`.
async fn create(ctx: &Ctx, a: CreateArgs) -> Result<(), CliError> {
    let mut inv = ctx.connect().await?.inventory();
    let site = answer(
        inv.create_site(pb::CreateSiteRequest {
            site: Some(pb::Site {
                display_name: a.name,
                operation: Some(pb::Operation {
                    programme: a.programme,
                    quartier: a.quartier,
                    commune: a.commune,
                    insee_code: a.insee,
                }),
                location: Some(tpb::GeoPoint {
                    latitude: a.lat,
                    longitude: a.lon,
                }),
                address: a.address,
                owner_org: a.owner_org,
                ..Default::default()
            }),
            request_id: a.request_id.unwrap_or_else(request_id),
            site_id: a.id.unwrap_or_default(),
        })
        .await,
    )?;
    emit(ctx.format, crate::json::message(&site), || {
        format!(
            "created {}\n{}\nnext: reemploi lots import DIAGNOSTIC.csv --site {}\n",
            site.name,
            views::site_text(&site),
            site.name
        )
    })
}

/// `sites list`: every page up to the limit.
async fn list(ctx: &Ctx, a: ListArgs) -> Result<(), CliError> {
    let inv = ctx.connect().await?.inventory();
    let owner_org = a.owner_org.unwrap_or_default();
    let text = a.text.unwrap_or_default();
    let sites = pages(a.limit, |page_token, page_size| {
        let mut inv = inv.clone();
        let req = pb::ListSitesRequest {
            page_size,
            page_token,
            owner_org: owner_org.clone(),
            text: text.clone(),
        };
        async move {
            let r = answer(inv.list_sites(req).await)?;
            Ok((r.sites, r.next_page_token))
        }
    })
    .await?;
    emit_list(
        ctx.format,
        &sites,
        crate::json::message,
        views::SITE_COLUMNS,
        views::site_row,
        "site",
    )
}
