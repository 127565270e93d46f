//! `reemploi partners`: register, show, list, verify and suspend ESS
//! partners, and import an SIAE directory export (`partners_import`).

use super::{Ctx, pages, partners_import, request_id};
use crate::CliError;
use crate::client::{answer, partner_name};
use crate::output::{Format, emit, emit_list, note};
use crate::views;
use clap::{Args, Subcommand, ValueEnum};
use reemploi_domain::partner::PartnerKind;
use reemploi_proto::registry as rpb;
use reemploi_proto::types as tpb;

/// The `partners` subcommands.
#[derive(Subcommand, Debug)]
pub enum PartnersCommand {
    /// Registers a partner, pending verification.
    #[command(
        after_help = "Example:\n  reemploi partners register --legal-name \"Atelier Réemploi\" --siret 90012345600015 \\\n    --kind ACI --lat 47.748 --lon 7.32 --radius-km 15 --category radiateur --category tuile"
    )]
    Register(RegisterArgs),
    /// Shows one partner.
    #[command(after_help = "Example:\n  reemploi partners show partners/…")]
    Show(NameArgs),
    /// Lists partners.
    #[command(
        after_help = "Examples:\n  reemploi partners list --status pending\n  reemploi partners list --category radiateur --output json"
    )]
    List(ListArgs),
    /// Verifies a pending partner (admins): it may then claim and be matched.
    #[command(after_help = "Example:\n  reemploi partners verify partners/…")]
    Verify(NameArgs),
    /// Suspends a verified partner (admins).
    #[command(
        after_help = "Example:\n  reemploi partners suspend partners/… --reason \"SIRET closed\""
    )]
    Suspend(SuspendArgs),
    /// Reinstates a suspended partner (admins): it is verified again.
    #[command(after_help = "Example:\n  reemploi partners reinstate partners/…")]
    Reinstate(NameArgs),
    /// Archives a partner that no longer operates (admins); it stays in
    /// the history of its claims and figures.
    #[command(after_help = "Example:\n  reemploi partners archive partners/…")]
    Archive(NameArgs),
    /// Changes the fields given of a partner (the partner itself or an
    /// admin); the others stay as they are.
    #[command(
        after_help = "Examples:\n  reemploi partners update partners/… --category radiateur --category porte-interieure\n  reemploi partners update partners/… --email contact@atelier.example --phone \"03 89 00 00 00\""
    )]
    Update(super::updates::PartnerArgs),
    /// Imports an SIAE directory export (CSV, XLSX, XLS or ODS) as pending
    /// partners, or updates those registered already (admins).
    ///
    /// Columns of the public directory: siret, type, raison_sociale,
    /// enseigne, addresse_ligne_1, code_postal, ville, departement,
    /// site_web, description, email (or courriel) and telephone, which
    /// become the partner's contact; plus latitude and longitude, which
    /// the API requires (rows without them are reported as bad rows), and
    /// optionally categories (`;`-separated codes or labels),
    /// weekly_intake_kg, radius_km and insertion_fte. Lines are the file's
    /// own: the header is line 1. All or nothing unless --skip-invalid.
    ///
    /// A row whose SIRET a partner has (archived ones aside) updates that
    /// partner instead: its legal name and kinds, and every other field
    /// whose cell is not empty (an empty cell changes nothing); its status
    /// stays as it is. The monthly export can be imported again. The
    /// directory has no material categories: --accepts gives them to rows
    /// that name none, and the import warns about every partner left
    /// accepting nothing, which matching never proposes.
    #[command(
        after_help = "Examples:\n  reemploi partners import siae-68.csv --dry-run\n  reemploi partners import siae-68.csv --accepts porte-interieure,radiateur --accepts tuile --verify\n  reemploi partners import siae-68.csv --default-radius-km 40 --skip-invalid"
    )]
    Import(partners_import::ImportArgs),
}

/// Partner statuses to filter on.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum StatusFilter {
    /// Awaiting verification.
    Pending,
    /// Verified.
    Verified,
    /// Suspended.
    Suspended,
    /// Archived.
    Archived,
}

/// Flags of `partners register`.
#[derive(Args, Debug)]
pub struct RegisterArgs {
    /// Legal name (raison sociale).
    #[arg(long)]
    pub legal_name: String,
    /// SIRET, 14 digits.
    #[arg(long)]
    pub siret: String,
    /// Kind of structure (ACI, AI, EI, EITI, ETTI, EA, EATT, GEIQ, RESSOURCERIE, ASSO, SCOP, SCIC); repeatable.
    #[arg(long = "kind", required = true)]
    pub kinds: Vec<String>,
    /// Latitude where materials are received.
    #[arg(long, allow_hyphen_values = true)]
    pub lat: f64,
    /// Longitude where materials are received.
    #[arg(long, allow_hyphen_values = true)]
    pub lon: f64,
    /// How far the partner collects, in km (1 to 200).
    #[arg(long, default_value_t = 30)]
    pub radius_km: i32,
    /// A category code accepted, e.g. radiateur; repeatable.
    #[arg(long = "category")]
    pub categories: Vec<String>,
    /// How much the partner can take in per week, in kg.
    #[arg(long, default_value_t = 0)]
    pub weekly_intake_kg: i64,
    /// Trade name (enseigne).
    #[arg(long, default_value = "")]
    pub trade_name: String,
    /// Commune.
    #[arg(long, default_value = "")]
    pub commune: String,
    /// Postal code.
    #[arg(long, default_value = "")]
    pub postal_code: String,
    /// Idempotency key.
    #[arg(long)]
    pub request_id: Option<String>,
}

/// A partner named on the command line.
#[derive(Args, Debug)]
pub struct NameArgs {
    /// The partner: `partners/ID` or `ID`.
    pub partner: String,
}

/// Flags of `partners suspend`.
#[derive(Args, Debug)]
pub struct SuspendArgs {
    /// The partner: `partners/ID` or `ID`.
    pub partner: String,
    /// Why.
    #[arg(long, default_value = "")]
    pub reason: String,
}

/// Flags of `partners list`.
#[derive(Args, Debug)]
pub struct ListArgs {
    /// Only partners in this status.
    #[arg(long, value_enum)]
    pub status: Option<StatusFilter>,
    /// Only partners of this kind (ACI, EI...).
    #[arg(long)]
    pub kind: Option<String>,
    /// Only partners accepting this category code.
    #[arg(long)]
    pub category: Option<String>,
    /// Only partners whose names contain this text.
    #[arg(long)]
    pub text: Option<String>,
    /// At most this many partners; 0 for all.
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
}

fn status_proto(s: StatusFilter) -> rpb::PartnerStatus {
    match s {
        StatusFilter::Pending => rpb::PartnerStatus::Pending,
        StatusFilter::Verified => rpb::PartnerStatus::Verified,
        StatusFilter::Suspended => rpb::PartnerStatus::Suspended,
        StatusFilter::Archived => rpb::PartnerStatus::Archived,
    }
}

fn kind_proto(s: &str) -> Result<i32, CliError> {
    PartnerKind::parse(s)
        .map(|k| reemploi_registry::model::kind_proto(k) as i32)
        .map_err(|e| CliError::Usage(e.to_string()))
}

/// Runs a `partners` subcommand.
pub async fn run(ctx: &Ctx, cmd: PartnersCommand) -> Result<(), CliError> {
    let partner = match cmd {
        PartnersCommand::Import(a) => return partners_import::run(ctx, a).await,
        PartnersCommand::List(a) => return list(ctx, a).await,
        PartnersCommand::Register(a) => register(ctx, a).await?,
        PartnersCommand::Show(a) => {
            let mut reg = ctx.connect().await?.registry();
            answer(
                reg.get_partner(rpb::GetPartnerRequest {
                    name: partner_name(&a.partner),
                })
                .await,
            )?
        }
        PartnersCommand::Verify(a) => {
            let mut reg = ctx.connect().await?.registry();
            answer(
                reg.verify_partner(rpb::VerifyPartnerRequest {
                    name: partner_name(&a.partner),
                    etag: String::new(),
                })
                .await,
            )?
        }
        PartnersCommand::Suspend(a) => {
            let mut reg = ctx.connect().await?.registry();
            answer(
                reg.suspend_partner(rpb::SuspendPartnerRequest {
                    name: partner_name(&a.partner),
                    etag: String::new(),
                    reason: a.reason,
                })
                .await,
            )?
        }
        PartnersCommand::Reinstate(a) => {
            let mut reg = ctx.connect().await?.registry();
            answer(
                reg.reinstate_partner(rpb::ReinstatePartnerRequest {
                    name: partner_name(&a.partner),
                    etag: String::new(),
                })
                .await,
            )?
        }
        PartnersCommand::Archive(a) => {
            let mut reg = ctx.connect().await?.registry();
            answer(
                reg.archive_partner(rpb::ArchivePartnerRequest {
                    name: partner_name(&a.partner),
                    etag: String::new(),
                })
                .await,
            )?
        }
        PartnersCommand::Update(a) => return super::updates::partner(ctx, a).await,
    };
    emit(ctx.format, crate::json::message(&partner), || {
        views::partner_text(&partner)
    })
}

/// `partners register`: the partner registered, pending verification.
async fn register(ctx: &Ctx, a: RegisterArgs) -> Result<rpb::Partner, CliError> {
    let kinds = a
        .kinds
        .iter()
        .map(|k| kind_proto(k))
        .collect::<Result<Vec<_>, _>>()?;
    let mut reg = ctx.connect().await?.registry();
    let p = answer(
        reg.register_partner(rpb::RegisterPartnerRequest {
            partner: Some(rpb::Partner {
                legal_name: a.legal_name,
                trade_name: a.trade_name,
                siret: a.siret,
                kinds,
                address: Some(rpb::Address {
                    postal_code: a.postal_code,
                    commune: a.commune,
                    ..Default::default()
                }),
                location: Some(tpb::GeoPoint {
                    latitude: a.lat,
                    longitude: a.lon,
                }),
                accepted_categories: a.categories,
                capabilities: vec![rpb::Capability::Collection as i32],
                weekly_intake_kg: a.weekly_intake_kg,
                service_radius_km: a.radius_km,
                ..Default::default()
            }),
            request_id: a.request_id.unwrap_or_else(request_id),
        })
        .await,
    )?;
    if ctx.format == Format::Table {
        note(&format!(
            "registered, pending verification: an admin runs `reemploi partners verify {}`",
            p.name
        ));
    }
    Ok(p)
}

/// Every partner the filters select, all pages up to the limit.
pub async fn fetch_partners(
    reg: &reemploi_proto::registry::registry_service_client::RegistryServiceClient<
        crate::client::Authed,
    >,
    status: Option<rpb::PartnerStatus>,
    kind: i32,
    category: String,
    text: String,
    limit: usize,
) -> Result<Vec<rpb::Partner>, CliError> {
    pages(limit, |page_token, page_size| {
        let mut reg = reg.clone();
        let req = rpb::ListPartnersRequest {
            page_size,
            page_token,
            kind,
            category: category.clone(),
            status: status.map_or(0, |s| s as i32),
            text: text.clone(),
            ..Default::default()
        };
        async move {
            let r = answer(reg.list_partners(req).await)?;
            Ok((r.partners, r.next_page_token))
        }
    })
    .await
}

async fn list(ctx: &Ctx, a: ListArgs) -> Result<(), CliError> {
    let kind = a.kind.as_deref().map(kind_proto).transpose()?.unwrap_or(0);
    let reg = ctx.connect().await?.registry();
    let partners = fetch_partners(
        &reg,
        a.status.map(status_proto),
        kind,
        a.category.unwrap_or_default(),
        a.text.unwrap_or_default(),
        a.limit,
    )
    .await?;
    emit_list(
        ctx.format,
        &partners,
        crate::json::message,
        views::PARTNER_COLUMNS,
        views::partner_row,
        "partner",
    )
}
