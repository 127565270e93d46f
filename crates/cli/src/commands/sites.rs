//! `reemploi sites`: create, list and show renovation and demolition sites.

use clap::{Args, Subcommand};
use reemploi_proto::inventory as pb;
use reemploi_proto::types as tpb;
use serde_json::Value;

use super::{Ctx, pages, request_id};
use crate::CliError;
use crate::client::{answer, site_name};
use crate::output::{Table, emit};
use crate::views;

/// The `sites` subcommands.
#[derive(Subcommand, Debug)]
pub enum SitesCommand {
    /// Creates a site (site managers create them for their own organisation).
    #[command(
        after_help = "Example:\n  reemploi sites create --name \"Coteaux – tour B\" --lat 47.746 --lon 7.301 \\\n    --owner-org m2a-habitat --programme NPNRU --quartier Coteaux --commune Mulhouse --insee 68224"
    )]
    Create(CreateArgs),
    /// Lists sites, newest first.
    #[command(
        after_help = "Examples:\n  reemploi sites list\n  reemploi sites list --text coteaux --output json"
    )]
    List(ListArgs),
    /// Shows one site.
    #[command(after_help = "Example:\n  reemploi sites show sites/0190a1b2-…")]
    Show(ShowArgs),
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
    let conn = ctx.connect().await?;
    let mut inv = conn.inventory();
    match cmd {
        SitesCommand::Create(a) => {
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
        SitesCommand::List(a) => {
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
            emit(
                ctx.format,
                Value::Array(sites.iter().map(crate::json::message).collect()),
                || {
                    let mut t =
                        Table::new(&["NAME", "DISPLAY NAME", "OWNER", "COMMUNE", "CREATED"]);
                    for s in &sites {
                        t.row(vec![
                            s.name.clone(),
                            s.display_name.clone(),
                            s.owner_org.clone(),
                            s.operation.clone().unwrap_or_default().commune,
                            s.create_time.map(|t| t.to_string()).unwrap_or_default(),
                        ]);
                    }
                    if t.is_empty() {
                        "no site\n".to_owned()
                    } else {
                        t.render()
                    }
                },
            )
        }
        SitesCommand::Show(a) => {
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
