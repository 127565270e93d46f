//! `reemploi up --demo`: the m2A sample, loaded through the public API as
//! an admin, like any other client. Idempotent: the site, lots and partners
//! carry fixed request ids, so a restart gets the first results back, and
//! what is already published or verified is left as it is.

use reemploi_domain::partner::PartnerKind;
use reemploi_domain::quantity::{Quantity, Unit};
use reemploi_inventory::diagnostic;
use reemploi_proto::identity as ipb;
use reemploi_proto::inventory as pb;
use reemploi_proto::registry as rpb;
use reemploi_proto::types as tpb;
use tonic::Code;

use crate::CliError;
use crate::client::Connection;

/// The sample diagnostic (PEMD) of the Coteaux tower A demolition.
pub const DIAGNOSTIC_CSV: &str = include_str!("../../../demo/diagnostic-coteaux.csv");

/// Idempotency key of the demo site.
pub const SITE_REQUEST_ID: &str = "demo-site";
/// Idempotency key of the demo lots.
pub const LOTS_REQUEST_ID: &str = "demo-lots";

/// What the demo loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    /// The site's resource name.
    pub site: String,
    /// Lots on the site.
    pub lots: usize,
    /// Lots published, now or by an earlier run.
    pub published: usize,
    /// Hazardous lots, left as drafts.
    pub hazardous: usize,
}

/// The demo site (operation, location and INSEE code from demo/m2a-places.csv).
pub fn site() -> pb::Site {
    pb::Site {
        display_name: "Coteaux – démolition tour A".to_owned(),
        operation: Some(pb::Operation {
            programme: "NPNRU".to_owned(),
            quartier: "Coteaux".to_owned(),
            commune: "Mulhouse".to_owned(),
            insee_code: "68224".to_owned(),
        }),
        location: Some(tpb::GeoPoint {
            latitude: 47.7460,
            longitude: 7.3010,
        }),
        owner_org: "m2a-habitat".to_owned(),
        ..Default::default()
    }
}

/// The sample's check of a lot "after check" (its balcony railings, whose
/// paint was tested for lead): passed a week ago, so that it is published.
async fn record_check(
    inventory: &mut reemploi_proto::inventory::inventory_service_client::InventoryServiceClient<
        crate::client::Authed,
    >,
    lot: &str,
) -> Result<(), CliError> {
    let week_ago = reemploi_store::now_millis() - 7 * 86_400_000;
    inventory
        .record_lot_check(pb::RecordLotCheckRequest {
            name: lot.to_owned(),
            etag: String::new(),
            check: Some(pb::LotCheck {
                check_time: Some(reemploi_runtime::wire::millis_ts(week_ago)),
                result: pb::CheckResult::Passed as i32,
                checked_by: "Diagnostic plomb (données de démonstration)".to_owned(),
                note: "Peinture sous le seuil de plomb".to_owned(),
                recorded_by: String::new(),
            }),
        })
        .await
        .map_err(|e| CliError::Demo(format!("check {lot}: {}", e.message())))?;
    Ok(())
}

/// Loads the sample: the site, its lots, then publishes every lot that is
/// not hazardous (the lot awaiting a lead check once its check is recorded).
pub async fn load(api: &Connection) -> Result<Loaded, CliError> {
    let mut inventory = api.inventory();
    let site = inventory
        .create_site(pb::CreateSiteRequest {
            site: Some(site()),
            request_id: SITE_REQUEST_ID.to_owned(),
            site_id: String::new(),
        })
        .await
        .map_err(|e| CliError::Demo(format!("create site: {}", e.message())))?
        .into_inner();
    let lots = diagnostic::read(DIAGNOSTIC_CSV).map_err(|rows| {
        let rows: Vec<String> = rows
            .iter()
            .map(|r| format!("line {}: {}", r.line, r.reason))
            .collect();
        CliError::Demo(format!("diagnostic: {}", rows.join("; ")))
    })?;
    let created = inventory
        .batch_create_lots(pb::BatchCreateLotsRequest {
            parent: site.name.clone(),
            requests: lots
                .into_iter()
                .map(|lot| pb::CreateLotRequest {
                    parent: site.name.clone(),
                    lot: Some(lot),
                    request_id: String::new(),
                    lot_id: String::new(),
                })
                .collect(),
            request_id: LOTS_REQUEST_ID.to_owned(),
        })
        .await
        .map_err(|e| CliError::Demo(format!("create lots: {}", e.message())))?
        .into_inner();
    let mut loaded = Loaded {
        site: site.name.clone(),
        lots: created.lots.len(),
        published: 0,
        hazardous: 0,
    };
    for lot in created.lots {
        if lot.hazardous {
            loaded.hazardous += 1;
            continue;
        }
        // A replay of the batch returns the lots as they are now: those an
        // earlier run published need nothing more.
        if lot.status == pb::LotStatus::Published as i32 {
            loaded.published += 1;
            continue;
        }
        if lot.reuse_potential == pb::ReusePotential::AfterCheck as i32 && lot.check.is_none() {
            record_check(&mut inventory, &lot.name).await?;
        }
        match api.publish_lot(&lot.name).await {
            Ok(_) => loaded.published += 1,
            // Published meanwhile (e.g. by a client between the replay and
            // now): publishing twice is refused, and that is fine.
            Err(e) if e.code() == Code::FailedPrecondition => {
                tracing::debug!(lot = %lot.name, reason = e.message(), "demo lot not published again");
            }
            Err(e) => {
                return Err(CliError::Demo(format!(
                    "publish {}: {}",
                    lot.name,
                    e.message()
                )));
            }
        }
    }
    Ok(loaded)
}

/// The sample ESS partners of the m2A territory.
pub const PARTNERS_CSV: &str = include_str!("../../../demo/partners-sample.csv");

/// Idempotency key of the demo partners.
pub const PARTNERS_REQUEST_ID: &str = "demo-partners";

/// Reads the sample partners file (name, kind, siret, commune, insee, lat,
/// lon, categories, capacity_kg_per_week, radius_km, insertion_fte).
pub fn sample_partners(csv_text: &str) -> Result<Vec<rpb::Partner>, CliError> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(csv_text.as_bytes());
    let mut partners = Vec::new();
    for (i, record) in reader.deserialize::<SampleRow>().enumerate() {
        let line = i + 2;
        let bad = |what: String| CliError::Demo(format!("partners line {line}: {what}"));
        let row = record.map_err(|e| bad(e.to_string()))?;
        let kinds = row
            .kind
            .split(';')
            .map(|k| PartnerKind::parse(k).map(|k| reemploi_registry::model::kind_proto(k) as i32))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad(e.to_string()))?;
        let fte = Quantity::parse_decimal(&row.insertion_fte, Unit::Piece)
            .map_err(|e| bad(e.to_string()))?;
        partners.push(rpb::Partner {
            legal_name: row.name,
            siret: row.siret,
            kinds,
            address: Some(rpb::Address {
                commune: row.commune,
                insee_code: row.insee,
                ..Default::default()
            }),
            location: Some(tpb::GeoPoint {
                latitude: row.lat,
                longitude: row.lon,
            }),
            accepted_categories: row
                .categories
                .split(';')
                .filter(|c| !c.is_empty())
                .map(str::to_owned)
                .collect(),
            capabilities: vec![rpb::Capability::Collection as i32],
            weekly_intake_kg: row.capacity_kg_per_week,
            service_radius_km: row.radius_km,
            insertion_fte_centi: fte.milli() / 10,
            ..Default::default()
        });
    }
    Ok(partners)
}

#[derive(serde::Deserialize)]
struct SampleRow {
    name: String,
    kind: String,
    siret: String,
    commune: String,
    insee: String,
    lat: f64,
    lon: f64,
    categories: String,
    capacity_kg_per_week: i64,
    radius_km: i32,
    insertion_fte: String,
}

/// Registers the sample partners (idempotently) and verifies those still
/// pending; returns them as registered.
pub async fn load_partners(api: &Connection) -> Result<Vec<rpb::Partner>, CliError> {
    let mut registry = api.registry();
    let requests = sample_partners(PARTNERS_CSV)?
        .into_iter()
        .map(|partner| rpb::RegisterPartnerRequest {
            partner: Some(partner),
            request_id: String::new(),
        })
        .collect();
    let registered = registry
        .batch_register_partners(rpb::BatchRegisterPartnersRequest {
            requests,
            request_id: PARTNERS_REQUEST_ID.to_owned(),
        })
        .await
        .map_err(|e| CliError::Demo(format!("register partners: {}", e.message())))?
        .into_inner();
    for partner in &registered.partners {
        if partner.status != rpb::PartnerStatus::Pending as i32 {
            continue;
        }
        match api.verify_partner(&partner.name).await {
            Ok(_) => {}
            Err(e) if e.code() == Code::FailedPrecondition => {}
            Err(e) => {
                return Err(CliError::Demo(format!(
                    "verify {}: {}",
                    partner.name,
                    e.message()
                )));
            }
        }
    }
    Ok(registered.partners)
}

/// A demo account: who, and as what.
struct Persona {
    email: String,
    display_name: String,
    role: ipb::AccountRole,
    org: &'static str,
    partner: String,
}

/// The accounts `--demo` makes: an admin, a site manager of the demo
/// site's organisation, a staff member of each demo partner, an integrator.
fn personas(partners: &[rpb::Partner]) -> Vec<Persona> {
    let one = |email: &str, name: &str, role, org| Persona {
        email: email.to_owned(),
        display_name: name.to_owned(),
        role,
        org,
        partner: String::new(),
    };
    let mut all = vec![
        one(
            "admin@reemploi.example",
            "Admin m2A",
            ipb::AccountRole::Admin,
            "",
        ),
        one(
            "chef-de-projet@m2a-habitat.example",
            "Cheffe de projet m2A Habitat",
            ipb::AccountRole::SiteManager,
            "m2a-habitat",
        ),
        one(
            "integration@reemploi.example",
            "Plateforme partenaire",
            ipb::AccountRole::Integrator,
            "",
        ),
    ];
    for (i, partner) in partners.iter().enumerate() {
        all.push(Persona {
            email: format!("equipe-{}@partenaires.example", i + 1),
            display_name: format!("Équipe {}", partner.legal_name),
            role: ipb::AccountRole::Partner,
            org: "",
            partner: partner.name.clone(),
        });
    }
    all
}

/// A password for the demo accounts: 20 random letters and digits.
fn demo_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyz23456789";
    let bytes: [u8; 20] = rand::random();
    bytes
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect()
}

/// Makes one account per persona, through invitations the admin token
/// creates and accepts at once, all with one generated password; returns
/// the (email, role) of those made now, and the password. Accounts made by
/// an earlier run are left as they are (and their password is not known
/// any more).
pub async fn load_accounts(
    api: &Connection,
    partners: &[rpb::Partner],
) -> Result<(Vec<(String, String)>, String), CliError> {
    let password = demo_password();
    let mut identity = api.identity();
    let mut made = Vec::new();
    for persona in personas(partners) {
        let invited = identity
            .create_invitation(ipb::CreateInvitationRequest {
                invitation: Some(ipb::Invitation {
                    email: persona.email.clone(),
                    role: persona.role as i32,
                    org: persona.org.to_owned(),
                    partner: persona.partner.clone(),
                    ..Default::default()
                }),
            })
            .await;
        let invitation = match invited {
            Ok(inv) => inv.into_inner(),
            Err(e) if e.code() == Code::AlreadyExists => continue,
            Err(e) => {
                return Err(CliError::Demo(format!(
                    "invite {}: {}",
                    persona.email,
                    e.message()
                )));
            }
        };
        identity
            .accept_invitation(ipb::AcceptInvitationRequest {
                code: invitation.code,
                password: password.clone(),
                display_name: persona.display_name.clone(),
            })
            .await
            .map_err(|e| CliError::Demo(format!("account {}: {}", persona.email, e.message())))?;
        made.push((persona.email, persona.role.as_str_name().to_owned()));
    }
    Ok((made, password))
}
