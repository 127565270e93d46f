//! Impact's own view of sites, lots, partners and claims (from the events
//! inventory and registry publish), the partners' declarations, and what
//! one handed-over claim adds to the figures.

use reemploi_domain::geo::GeoPoint;
use reemploi_proto::impact as pb;
use reemploi_proto::inventory as ipb;
use reemploi_proto::registry as rpb;
use reemploi_runtime::names::{ClaimName, Id, LotName, PartnerName, SiteName};
use reemploi_runtime::wire::ts_millis;
use uuid::Uuid;

use crate::calendar::Month;
use crate::error::{ImpactError, Result};
use crate::factors::{Factors, Per};

/// A site as impact keeps it: where it is and whose.
#[derive(Debug, Clone, PartialEq)]
pub struct Site {
    pub id: Id,
    pub display_name: String,
    pub owner_org: String,
    pub quartier: String,
    pub commune: String,
    pub insee_code: String,
    pub latitude: f64,
    pub longitude: f64,
    pub version: i64,
}

/// A lot as impact keeps it: the diagnostic row.
#[derive(Debug, Clone, PartialEq)]
pub struct Lot {
    /// Unique within its site only.
    pub id: Id,
    pub site_id: Id,
    pub reference: String,
    pub designation: String,
    pub category: String,
    /// `reemploi.type.v1.Unit` number.
    pub unit: i32,
    pub quantity_milli: i64,
    pub estimated_mass_g: i64,
    pub waste_code: String,
    pub hazardous: bool,
    /// A draft deleted from the inventory: kept so that no older event
    /// brings it back, counted nowhere.
    pub deleted: bool,
    pub version: i64,
}

/// A partner as impact keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct Partner {
    pub id: Uuid,
    pub display_name: String,
    pub latitude: f64,
    pub longitude: f64,
    pub version: i64,
}

/// A claim as impact keeps it: who took how much, and when.
#[derive(Debug, Clone, PartialEq)]
pub struct Claim {
    pub id: Uuid,
    pub lot_id: Id,
    pub site_id: Id,
    pub partner_id: Uuid,
    /// `handed_over`, `reserved`...
    pub status: String,
    pub quantity_milli: i64,
    pub weighed_mass_g: i64,
    pub handed_over_at: Option<i64>,
    pub version: i64,
}

/// A declared outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub id: Uuid,
    pub claim: ClaimName,
    pub partner_id: Uuid,
    pub kind: pb::OutcomeKind,
    pub quantity_milli: Option<i64>,
    pub mass_g: i64,
    pub outcome_at: i64,
    pub destination: String,
    pub siret: String,
    pub created_at: i64,
}

/// Material a site's managers declare reused on the site itself.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteReuse {
    pub id: Uuid,
    pub lot: LotName,
    pub kind: pb::OutcomeKind,
    pub quantity_milli: Option<i64>,
    pub mass_g: i64,
    pub outcome_at: i64,
    pub destination: String,
    pub siret: String,
    pub created_at: i64,
}

/// Declared insertion work.
#[derive(Debug, Clone, PartialEq)]
pub struct Hours {
    pub id: Uuid,
    pub claim: ClaimName,
    pub partner_id: Uuid,
    pub activity: pb::Activity,
    pub minutes: i64,
    pub people: i64,
    pub work_at: i64,
    pub created_at: i64,
}

fn bad(what: &str, e: impl std::fmt::Display) -> ImpactError {
    ImpactError::BadEvent(format!("event {what}: {e}"))
}

/// The lowercase name of a proto enum value without its prefix.
pub fn enum_word(name: &str, prefix: &str) -> String {
    name.trim_start_matches(prefix).to_lowercase()
}

impl Site {
    /// From the site an inventory event carries.
    pub fn from_event(s: &ipb::Site) -> Result<Site> {
        let id = SiteName::parse("site.name", &s.name)
            .map_err(|e| bad("site name", e))?
            .0;
        let op = s.operation.clone().unwrap_or_default();
        let at = s.location.unwrap_or_default();
        Ok(Site {
            id,
            display_name: s.display_name.clone(),
            owner_org: s.owner_org.clone(),
            quartier: op.quartier,
            commune: op.commune,
            insee_code: op.insee_code,
            latitude: at.latitude,
            longitude: at.longitude,
            version: s.version,
        })
    }
}

impl Lot {
    /// From the lot an inventory event carries.
    pub fn from_event(l: &ipb::Lot) -> Result<Lot> {
        let name = LotName::parse("lot.name", &l.name).map_err(|e| bad("lot name", e))?;
        let quantity = l.quantity.unwrap_or_default();
        Ok(Lot {
            id: name.lot,
            site_id: name.site,
            reference: l.reference.clone(),
            designation: l.designation.clone(),
            category: l.category.clone(),
            unit: quantity.unit,
            quantity_milli: quantity.milli,
            // A deleted draft no longer counts in its site's estimate.
            estimated_mass_g: if l.delete_time.is_some() {
                0
            } else {
                l.estimated_mass_g
            },
            waste_code: l.waste_code.clone(),
            hazardous: l.hazardous,
            deleted: l.delete_time.is_some(),
            version: l.version,
        })
    }
}

impl Lot {
    /// The lot's name.
    pub fn name(&self) -> LotName {
        LotName {
            site: self.site_id,
            lot: self.id,
        }
    }
}

impl Partner {
    /// From the partner a registry event carries.
    pub fn from_event(p: &rpb::Partner) -> Result<Partner> {
        let id = PartnerName::parse("partner.name", &p.name)
            .map_err(|e| bad("partner name", e))?
            .0;
        let at = p.location.unwrap_or_default();
        Ok(Partner {
            id,
            // The name people know it by: its trade name, else its legal name.
            display_name: if p.trade_name.trim().is_empty() {
                p.legal_name.clone()
            } else {
                p.trade_name.clone()
            },
            latitude: at.latitude,
            longitude: at.longitude,
            version: p.version,
        })
    }
}

impl Claim {
    /// From the claim an inventory event carries.
    pub fn from_event(c: &ipb::Claim) -> Result<Claim> {
        let name = ClaimName::parse("claim.name", &c.name).map_err(|e| bad("claim name", e))?;
        let partner = PartnerName::parse("claim.partner", &c.partner)
            .map_err(|e| bad("claim partner", e))?
            .0;
        let status = ipb::ClaimStatus::try_from(c.status)
            .map(|s| enum_word(s.as_str_name(), "CLAIM_STATUS_"))
            .map_err(|e| bad("claim status", e))?;
        Ok(Claim {
            id: name.claim,
            lot_id: name.lot.lot,
            site_id: name.lot.site,
            partner_id: partner,
            status,
            // What impact counts of a claim is what left the site: the
            // quantity collected once a trip was made (less than claimed
            // when the site closed it early), the claimed one before.
            quantity_milli: match c.collected.map(|q| q.milli) {
                Some(collected) if collected > 0 => collected,
                _ => c.quantity.unwrap_or_default().milli,
            },
            weighed_mass_g: c.weighed_mass_g,
            handed_over_at: c.handover_time.as_ref().map(ts_millis),
            version: c.version,
        })
    }

    /// Whether material left the site with the partner: all of it, or
    /// the trips made so far of a claim still confirmed (their masses
    /// summed in `weighed_mass_g`, the latest's time in `handed_over_at`).
    pub fn handed_over(&self) -> bool {
        matches!(self.status.as_str(), "handed_over" | "confirmed") && self.handed_over_at.is_some()
    }

    /// The claim's resource name.
    pub fn name(&self) -> ClaimName {
        ClaimName {
            lot: LotName {
                site: self.site_id,
                lot: self.lot_id,
            },
            claim: self.id,
        }
    }
}

/// The summed figures of a set of hand-overs, in grams, minutes and counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Values {
    pub handed_g: i64,
    pub reused_g: i64,
    pub refurbished_g: i64,
    pub resold_g: i64,
    pub recycled_g: i64,
    pub disposed_g: i64,
    pub gross_g: i64,
    pub transport_g: i64,
    pub without_factor_g: i64,
    pub minutes: i64,
    pub people: i64,
    pub lots: i64,
    pub claims: i64,
}

/// The columns of [`Values`], in the order of [`Values::to_array`].
pub const VALUE_COLUMNS: [&str; 13] = [
    "handed_g",
    "reused_g",
    "refurbished_g",
    "resold_g",
    "recycled_g",
    "disposed_g",
    "gross_g",
    "transport_g",
    "without_factor_g",
    "minutes",
    "people",
    "lots",
    "claims",
];

impl Values {
    /// The values in [`VALUE_COLUMNS`] order.
    pub fn to_array(self) -> [i64; 13] {
        [
            self.handed_g,
            self.reused_g,
            self.refurbished_g,
            self.resold_g,
            self.recycled_g,
            self.disposed_g,
            self.gross_g,
            self.transport_g,
            self.without_factor_g,
            self.minutes,
            self.people,
            self.lots,
            self.claims,
        ]
    }

    /// The values from [`VALUE_COLUMNS`] order.
    pub fn from_array(a: [i64; 13]) -> Values {
        let [
            handed_g,
            reused_g,
            refurbished_g,
            resold_g,
            recycled_g,
            disposed_g,
            gross_g,
            transport_g,
            without_factor_g,
            minutes,
            people,
            lots,
            claims,
        ] = a;
        Values {
            handed_g,
            reused_g,
            refurbished_g,
            resold_g,
            recycled_g,
            disposed_g,
            gross_g,
            transport_g,
            without_factor_g,
            minutes,
            people,
            lots,
            claims,
        }
    }

    /// Column by column `self + sign × other`.
    pub fn plus(self, other: Values, sign: i64) -> Values {
        let (a, b) = (self.to_array(), other.to_array());
        Values::from_array(std::array::from_fn(|i| a[i] + sign * b[i]))
    }

    /// Mass declared reused (as is, refurbished, resold).
    pub fn reused_total_g(&self) -> i64 {
        self.reused_g + self.refurbished_g + self.resold_g
    }

    /// Mass handed over with no outcome declared.
    pub fn undeclared_g(&self) -> i64 {
        let declared = self.reused_total_g() + self.recycled_g + self.disposed_g;
        (self.handed_g - declared).max(0)
    }
}

/// What one handed-over claim adds to the figures, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contribution {
    pub handed_over_at: i64,
    pub month: String,
    pub site_id: Id,
    pub partner_id: Uuid,
    pub category: String,
    pub values: Values,
}

/// Everything a claim's contribution depends on.
#[derive(Debug)]
pub struct Inputs<'a> {
    pub claim: &'a Claim,
    pub lot: Option<&'a Lot>,
    pub site: Option<&'a Site>,
    pub partner: Option<&'a Partner>,
    pub outcomes: &'a [Outcome],
    pub hours: &'a [Hours],
    /// Whether this claim is its lot's first hand-over (the lot counts here).
    pub first_of_lot: bool,
}

fn rounded(x: f64) -> i64 {
    // Figures are far below 2^53 grams; the cast saturates beyond.
    x.round() as i64
}

/// The contribution of a claim, `None` unless it was handed over. A pure
/// function of its inputs, so that any order of events gives the same.
pub fn contribution(i: &Inputs<'_>, factors: &Factors) -> Option<Contribution> {
    let c = i.claim;
    let at = c.handed_over_at.filter(|_| c.handed_over())?;
    let mut v = Values {
        handed_g: c.weighed_mass_g,
        claims: 1,
        lots: i64::from(i.first_of_lot),
        ..Values::default()
    };
    for o in i.outcomes {
        match o.kind {
            pb::OutcomeKind::ReusedAsIs => v.reused_g += o.mass_g,
            pb::OutcomeKind::ReusedRefurbished => v.refurbished_g += o.mass_g,
            pb::OutcomeKind::Resold => v.resold_g += o.mass_g,
            pb::OutcomeKind::Recycled => v.recycled_g += o.mass_g,
            pb::OutcomeKind::Disposed => v.disposed_g += o.mass_g,
            pb::OutcomeKind::Unspecified => {}
        }
    }
    let category = i.lot.map(|l| l.category.clone()).unwrap_or_default();
    match factors.of(&category) {
        // kg CO2e per kg is g CO2e per g.
        Some(Per::Kg(f)) => v.gross_g = rounded(v.reused_total_g() as f64 * f),
        Some(Per::Unit(f)) => v.gross_g = rounded(reused_pieces(i) * f * 1000.0),
        None => v.without_factor_g = v.reused_total_g(),
    }
    v.transport_g = transport_g(i, factors);
    v.minutes = i.hours.iter().map(|h| h.minutes).sum();
    v.people = i.hours.iter().map(|h| h.people).max().unwrap_or(0);
    Some(Contribution {
        handed_over_at: at,
        month: Month::of(at).key(),
        site_id: c.site_id,
        partner_id: c.partner_id,
        category,
        values: v,
    })
}

/// Pieces reused: as declared, or the mass's share of the claim's quantity.
fn reused_pieces(i: &Inputs<'_>) -> f64 {
    let c = i.claim;
    i.outcomes
        .iter()
        .filter(|o| is_reuse(o.kind))
        .map(|o| match o.quantity_milli {
            Some(q) => q as f64 / 1000.0,
            None if c.weighed_mass_g > 0 => {
                o.mass_g as f64 / c.weighed_mass_g as f64 * c.quantity_milli as f64 / 1000.0
            }
            None => 0.0,
        })
        .sum()
}

/// CO2e of carrying the mass handed over from the site to the partner, in
/// a straight line; zero while either place is unknown.
fn transport_g(i: &Inputs<'_>, factors: &Factors) -> i64 {
    let (Some(s), Some(p)) = (i.site, i.partner) else {
        return 0;
    };
    let (Ok(from), Ok(to)) = (
        GeoPoint::new(s.latitude, s.longitude),
        GeoPoint::new(p.latitude, p.longitude),
    ) else {
        return 0;
    };
    let km = from.distance_m(to) / 1000.0;
    let tonnes = i.claim.weighed_mass_g as f64 / 1_000_000.0;
    rounded(tonnes * km * factors.transport_kg_per_tkm * 1000.0)
}

/// Whether an outcome avoids a new product (reused as is, refurbished or
/// resold); recycling and disposal do not.
pub fn is_reuse(kind: pb::OutcomeKind) -> bool {
    match kind {
        pb::OutcomeKind::ReusedAsIs
        | pb::OutcomeKind::ReusedRefurbished
        | pb::OutcomeKind::Resold => true,
        pb::OutcomeKind::Recycled | pb::OutcomeKind::Disposed | pb::OutcomeKind::Unspecified => {
            false
        }
    }
}
