//! What the engine knows of partners and lots: projections, not the owning
//! services' records, so the engine stays free of I/O and storage types.

use reemploi_domain::category::{self, Category, Fit};
use reemploi_domain::geo::GeoPoint;

/// Legal form of an ESS structure, as far as matching cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StructureKind {
    /// Atelier et chantier d'insertion (SIAE).
    Aci,
    /// Association intermédiaire (SIAE).
    Ai,
    /// Entreprise d'insertion (SIAE).
    Ei,
    /// Entreprise d'insertion par le travail indépendant (SIAE).
    Eiti,
    /// Entreprise de travail temporaire d'insertion (SIAE).
    Etti,
    /// Ressourcerie or recyclerie.
    Ressourcerie,
    /// Any other association.
    Association,
    /// Société coopérative de production.
    Scop,
    /// Société coopérative d'intérêt collectif.
    Scic,
    /// Anything else.
    Other,
}

impl StructureKind {
    /// Whether the structure is an SIAE (insertion through economic activity),
    /// which earns the insertion bonus in the score.
    pub fn is_insertion(self) -> bool {
        matches!(
            self,
            StructureKind::Aci
                | StructureKind::Ai
                | StructureKind::Ei
                | StructureKind::Eiti
                | StructureKind::Etti
        )
    }
}

/// A partner (ESS structure) as seen by matching.
#[derive(Debug, Clone, PartialEq)]
pub struct PartnerProfile {
    /// Stable identifier, unique among partners.
    pub id: String,
    /// Where the partner receives materials.
    pub location: GeoPoint,
    /// Great-circle radius it serves around `location`, in metres.
    pub radius_m: f64,
    /// Categories it takes; a lot of another category of the same family is
    /// still accepted, with a lower category fit.
    pub accepted: Vec<&'static Category>,
    /// Weekly intake capacity, in grams.
    pub weekly_intake_g: i64,
    /// Mass it holds and has not collected yet (its reserved and confirmed
    /// claims), in grams.
    pub committed_g: i64,
    /// Verified by a territory admin and currently active.
    pub verified_active: bool,
    /// Legal form; SIAE earn the insertion bonus.
    pub kind: StructureKind,
    /// How far ahead the partner plans pick-ups, in milliseconds: its intake
    /// window is `[now, now + horizon_ms]`.
    pub horizon_ms: i64,
}

impl PartnerProfile {
    /// Capacity left this week in grams (may be zero or negative when the
    /// partner is over-committed).
    pub fn headroom_g(&self) -> i64 {
        self.weekly_intake_g.saturating_sub(self.committed_g)
    }

    /// Best fit of `lot_category` against every accepted category.
    pub fn best_fit(&self, lot_category: &Category) -> Fit {
        let mut best = Fit::None;
        for accepted in &self.accepted {
            match category::fit(lot_category, accepted) {
                Fit::Exact => return Fit::Exact,
                Fit::Family => best = Fit::Family,
                Fit::None => {}
            }
        }
        best
    }
}

/// Availability of a lot: pick-up possible from `from_ms` until `until_ms`
/// inclusive (Unix milliseconds); `None` leaves that side open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Window {
    /// Earliest pick-up, if any.
    pub from_ms: Option<i64>,
    /// Deadline: latest pick-up, if any.
    pub until_ms: Option<i64>,
}

impl Window {
    /// A window open on both sides.
    pub const OPEN: Window = Window {
        from_ms: None,
        until_ms: None,
    };

    /// Whether `[from, until]` shares at least one instant with
    /// `[start_ms, end_ms]`; an empty window (deadline before start) never does.
    pub fn overlaps(self, start_ms: i64, end_ms: i64) -> bool {
        let from = self.from_ms.unwrap_or(i64::MIN);
        let until = self.until_ms.unwrap_or(i64::MAX);
        from <= until && start_ms <= end_ms && from <= end_ms && until >= start_ms
    }
}

/// A published lot as seen by matching.
#[derive(Debug, Clone, PartialEq)]
pub struct LotProfile {
    /// Stable identifier, unique among lots.
    pub id: String,
    /// Where it is picked up (the site).
    pub location: GeoPoint,
    /// Category from the taxonomy.
    pub category: &'static Category,
    /// Whole units still available (neither claimed nor handed over).
    pub available_units: i64,
    /// Mass of one unit, in grams.
    pub unit_mass_g: i64,
    /// When it can be picked up.
    pub window: Window,
    /// Contains hazardous substances (asbestos, lead paint...): never proposed.
    pub hazardous: bool,
}

impl LotProfile {
    /// Mass still available in grams, `None` on overflow.
    pub fn available_mass_g(&self) -> Option<i64> {
        self.available_units.checked_mul(self.unit_mass_g)
    }
}
