//! `reemploi up --demo`, second part: a few hand-overs of the sample site to
//! the sample structures, with what became of the material and the
//! insertion hours it gave, so that the figures are not empty. Through the
//! public API like the rest: each structure claims for itself, the admin
//! confirms and records the hand-over (a few weeks or months back, as a
//! territory admin may), the structure declares. Idempotent: every call
//! carries a fixed request id, and steps already done are passed over.

use std::future::Future;
use std::time::Duration;

use reemploi_proto::impact as ipb;
use reemploi_proto::inventory as pb;
use reemploi_proto::types as tpb;
use reemploi_runtime::wire::millis_ts;
use tonic::Code;

use crate::CliError;
use crate::client::Connection;

/// How long the loader waits for one service to hear of another's change.
const PATIENCE: Duration = Duration::from_secs(30);

/// One demo hand-over: who takes how much of which diagnostic row, what
/// the scale said, and what the structure declares afterwards.
pub struct Handover {
    /// SIRET of the structure (partners-sample.csv).
    pub siret: &'static str,
    /// Reference of the diagnostic row (diagnostic-coteaux.csv).
    pub reference: &'static str,
    /// Whole pieces or metres taken.
    pub amount: i64,
    /// Weighed at pick-up, in grams.
    pub weighed_mass_g: i64,
    /// How many days before the demo is loaded the truck came (the admin
    /// loading it may record a past pick-up): a few months of figures.
    pub days_ago: i64,
    /// Outcomes: kind, mass in grams (0: the share of `amount` of the
    /// weighed mass), amount in the lot's unit (0: by mass), destination.
    pub outcomes: &'static [(ipb::OutcomeKind, i64, i64, &'static str)],
    /// Insertion work: activity, minutes, people.
    pub hours: &'static [(ipb::Activity, i64, i32)],
}

use ipb::Activity as A;
use ipb::OutcomeKind as K;

/// The demo's hand-overs.
pub const HANDOVERS: [Handover; 4] = [
    Handover {
        siret: "90012345600015",
        reference: "M2",
        amount: 120,
        weighed_mass_g: 7_150_000,
        days_ago: 95,
        outcomes: &[
            (
                K::ReusedRefurbished,
                0,
                100,
                "Atelier Réemploi Coteaux, Mulhouse",
            ),
            (K::Recycled, 1_191_667, 0, "Recyclage fonte, Illzach"),
        ],
        hours: &[(A::Dismantling, 2_400, 3), (A::Refurbishing, 7_200, 4)],
    },
    Handover {
        siret: "90012345600015",
        reference: "M1",
        amount: 60,
        weighed_mass_g: 1_480_000,
        days_ago: 65,
        outcomes: &[
            (
                K::ReusedAsIs,
                1_200_000,
                0,
                "Réhabilitation Drouot-Jonquilles, Mulhouse",
            ),
            (K::Resold, 280_000, 0, "Boutique de l'atelier, Mulhouse"),
        ],
        hours: &[(A::Dismantling, 960, 3)],
    },
    Handover {
        siret: "90034567900014",
        reference: "M5",
        amount: 120,
        weighed_mass_g: 3_540_000,
        days_ago: 35,
        outcomes: &[
            (
                K::ReusedRefurbished,
                3_200_000,
                0,
                "Résidence Markstein, Wittenheim",
            ),
            (
                K::Disposed,
                340_000,
                0,
                "Déchèterie professionnelle, Illzach",
            ),
        ],
        hours: &[(A::Collection, 480, 2), (A::Refurbishing, 2_400, 3)],
    },
    Handover {
        siret: "90023456800013",
        reference: "M3",
        amount: 40,
        weighed_mass_g: 790_000,
        days_ago: 3,
        outcomes: &[(K::Resold, 600_000, 0, "Ressourcerie du Rhin, Sausheim")],
        hours: &[(A::Sorting, 300, 2)],
    },
];

/// Retries `call` while it fails with a status `waiting` says is only a
/// matter of time (an event on its way), for at most [`PATIENCE`].
async fn patiently<T, F, Fut>(
    what: &str,
    waiting: fn(&tonic::Status) -> bool,
    mut call: F,
) -> Result<T, CliError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
{
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        match call().await {
            Ok(r) => return Ok(r.into_inner()),
            Err(s) if waiting(&s) && tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(s) => return Err(CliError::Demo(format!("{what}: {}", s.message()))),
        }
    }
}

/// Whether a refusal only says the step was done by an earlier run.
fn already_done(s: &tonic::Status) -> bool {
    s.code() == Code::FailedPrecondition
}

/// Hands over, then declares, each of [`HANDOVERS`]; `as_partner` gives a
/// connection acting for a structure, by its resource name.
pub async fn load<F, Fut>(
    admin: &Connection,
    site: &str,
    partners: &[(String, String)],
    as_partner: F,
) -> Result<usize, CliError>
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = Result<Connection, CliError>>,
{
    let lots = admin
        .inventory()
        .list_lots(pb::ListLotsRequest {
            parent: site.to_owned(),
            page_size: 100,
            ..Default::default()
        })
        .await
        .map_err(|e| CliError::Demo(format!("list the demo lots: {}", e.message())))?
        .into_inner()
        .lots;
    for (i, h) in HANDOVERS.iter().enumerate() {
        let lot = lots
            .iter()
            .find(|l| l.reference == h.reference)
            .ok_or_else(|| CliError::Demo(format!("no demo lot {}", h.reference)))?;
        let partner = partners
            .iter()
            .find(|(_, siret)| siret == h.siret)
            .map(|(name, _)| name.clone())
            .ok_or_else(|| CliError::Demo(format!("no demo structure {}", h.siret)))?;
        let taker = as_partner(partner.clone()).await?;
        let claim = hand_over(admin, &taker, lot, &partner, h, i).await?;
        declare(&taker, &claim, unit_of(lot), h, i).await?;
    }
    Ok(HANDOVERS.len())
}

fn unit_of(lot: &pb::Lot) -> i32 {
    lot.quantity.map(|q| q.unit).unwrap_or_default()
}

async fn hand_over(
    admin: &Connection,
    taker: &Connection,
    lot: &pb::Lot,
    partner: &str,
    h: &Handover,
    i: usize,
) -> Result<String, CliError> {
    let unit = unit_of(lot);
    let claim = patiently(
        "claim",
        // The inventory has not heard of the structure's verification yet.
        |s| s.code() == Code::FailedPrecondition,
        || {
            let mut inventory = taker.inventory();
            let req = pb::ClaimLotRequest {
                lot: lot.name.clone(),
                partner: partner.to_owned(),
                quantity: Some(tpb::Quantity {
                    unit,
                    milli: h.amount * 1000,
                }),
                request_id: format!("demo-claim-{i}"),
                ..Default::default()
            };
            async move { inventory.claim_lot(req).await }
        },
    )
    .await?;
    let mut inventory = admin.inventory();
    let confirmed = inventory
        .confirm_claim(pb::ConfirmClaimRequest {
            name: claim.name.clone(),
            etag: String::new(),
        })
        .await;
    match confirmed {
        Ok(_) => {}
        Err(s) if already_done(&s) => {}
        Err(s) => {
            return Err(CliError::Demo(format!(
                "confirm {}: {}",
                claim.name,
                s.message()
            )));
        }
    }
    let handed = inventory
        .record_handover(pb::RecordHandoverRequest {
            name: claim.name.clone(),
            weighed_mass_g: h.weighed_mass_g,
            handover_time: Some(millis_ts(
                reemploi_store::now_millis() - h.days_ago * 86_400_000,
            )),
            ..Default::default()
        })
        .await;
    match handed {
        Ok(_) => Ok(claim.name),
        Err(s) if already_done(&s) => Ok(claim.name),
        Err(s) => Err(CliError::Demo(format!(
            "hand over {}: {}",
            claim.name,
            s.message()
        ))),
    }
}

async fn declare(
    taker: &Connection,
    claim: &str,
    unit: i32,
    h: &Handover,
    i: usize,
) -> Result<(), CliError> {
    // Until the impact service has heard of the hand-over.
    let not_yet =
        |s: &tonic::Status| s.code() == Code::FailedPrecondition || s.code() == Code::NotFound;
    for (j, (kind, mass_g, pieces, destination)) in h.outcomes.iter().enumerate() {
        let quantity = (*pieces > 0).then_some(tpb::Quantity {
            unit,
            milli: pieces * 1000,
        });
        patiently("declare an outcome", not_yet, || {
            let mut impact = taker.impact();
            let req = ipb::DeclareOutcomeRequest {
                parent: claim.to_owned(),
                outcome: Some(ipb::Outcome {
                    kind: *kind as i32,
                    mass_g: *mass_g,
                    quantity,
                    destination: (*destination).to_owned(),
                    ..Default::default()
                }),
                request_id: format!("demo-outcome-{i}-{j}"),
            };
            async move { impact.declare_outcome(req).await }
        })
        .await?;
    }
    for (j, (activity, minutes, people)) in h.hours.iter().enumerate() {
        patiently("declare hours", not_yet, || {
            let mut impact = taker.impact();
            let req = ipb::DeclareHoursRequest {
                parent: claim.to_owned(),
                hours: Some(ipb::HoursDeclaration {
                    activity: *activity as i32,
                    minutes: *minutes,
                    people: *people,
                    ..Default::default()
                }),
                request_id: format!("demo-hours-{i}-{j}"),
            };
            async move { impact.declare_hours(req).await }
        })
        .await?;
    }
    Ok(())
}
