//! A diagnostic imported again: each row is matched to the site's lots by
//! its reference, so that a second import of the same file (or a revised
//! one) updates the drafts it made instead of making them twice. Lots no
//! longer drafts are never changed: what the row would change is said.

use std::collections::HashMap;

use reemploi_proto::inventory as pb;

use super::LotRow;

/// What becomes of a row, given the lots the site has.
#[derive(Debug)]
pub enum Plan<'a> {
    /// No lot of the site has its reference: a new draft.
    Create(&'a LotRow),
    /// A draft of the site has it, and the row changes these fields.
    Update {
        /// The draft, as listed (its etag guards the update).
        lot: pb::Lot,
        /// The row.
        row: &'a LotRow,
        /// The fields the row changes, as UpdateLot's mask names them.
        fields: Vec<&'static str>,
    },
    /// A lot of the site has it and already says what the row says.
    Unchanged(pb::Lot),
    /// A lot the import does not change, and why.
    LeftAlone(pb::Lot, LeftAlone),
}

/// Why a row's lot is left as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeftAlone {
    /// The lot is no longer a draft; the row would change these fields.
    NotDraft(Vec<&'static str>),
    /// This many lots of the site share the reference: which one is meant
    /// cannot be told.
    SameReference(usize),
}

/// A reference as compared: trimmed, whatever its case.
pub fn key(reference: &str) -> String {
    reference.trim().to_lowercase()
}

/// What becomes of each row, given the site's lots.
pub fn plan<'a>(rows: &'a [(u64, LotRow)], existing: &[pb::Lot]) -> Vec<(u64, Plan<'a>)> {
    let mut by_reference: HashMap<String, Vec<&pb::Lot>> = HashMap::new();
    for lot in existing.iter().filter(|l| !key(&l.reference).is_empty()) {
        by_reference
            .entry(key(&lot.reference))
            .or_default()
            .push(lot);
    }
    let draft = pb::LotStatus::Draft as i32;
    rows.iter()
        .map(|(line, row)| {
            let reference = key(&row.lot.reference);
            let matching = match reference.as_str() {
                "" => &[][..],
                r => by_reference.get(r).map_or(&[][..], Vec::as_slice),
            };
            let plan = match matching {
                [] => Plan::Create(row),
                [lot] => match changed(lot, row) {
                    fields if fields.is_empty() => Plan::Unchanged((*lot).clone()),
                    fields if lot.status == draft => Plan::Update {
                        lot: (*lot).clone(),
                        row,
                        fields,
                    },
                    fields => Plan::LeftAlone((*lot).clone(), LeftAlone::NotDraft(fields)),
                },
                [first, ..] => {
                    Plan::LeftAlone((*first).clone(), LeftAlone::SameReference(matching.len()))
                }
            };
            (*line, plan)
        })
        .collect()
}

/// The fields the row gives a value for in which it differs from the lot.
pub fn changed(lot: &pb::Lot, row: &LotRow) -> Vec<&'static str> {
    let new = &row.lot;
    let set = |hazards: &[i32]| {
        let mut h = hazards.to_vec();
        h.sort_unstable();
        h.dedup();
        h
    };
    row.given
        .iter()
        .copied()
        .filter(|field| match *field {
            "designation" => lot.designation != new.designation,
            "description" => lot.description != new.description,
            "category" => lot.category != new.category,
            "quantity" => lot.quantity != new.quantity,
            "estimated_mass_g" => lot.estimated_mass_g != new.estimated_mass_g,
            "building_location" => lot.building_location != new.building_location,
            "condition" => lot.condition != new.condition,
            "reuse_potential" => lot.reuse_potential != new.reuse_potential,
            "waste_code" => lot.waste_code != new.waste_code,
            "hazards" => set(&lot.hazards) != set(&new.hazards),
            _ => false,
        })
        .collect()
}

/// The UpdateLot of a draft with the fields a row changes, guarded by the
/// etag the draft was listed with: a change made meanwhile is not
/// overwritten.
pub fn update_request(
    current: &pb::Lot,
    row: &LotRow,
    fields: &[&'static str],
) -> pb::UpdateLotRequest {
    let mut lot = row.lot.clone();
    lot.name = current.name.clone();
    lot.etag = current.etag.clone();
    pb::UpdateLotRequest {
        lot: Some(lot),
        update_mask: Some(prost_types::FieldMask {
            paths: fields.iter().map(|f| (*f).to_owned()).collect(),
        }),
    }
}
