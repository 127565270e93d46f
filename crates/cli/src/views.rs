//! How API messages are shown to people: short texts, table rows and
//! human numbers. (For scripts, `--output json` prints the messages
//! themselves, see [`crate::json`].)

use reemploi_domain::quantity::{Quantity, Unit};
use reemploi_proto::identity as ipb;
use reemploi_proto::inventory as pb;
use reemploi_proto::registry as rpb;
use reemploi_proto::types as tpb;

/// The lowercase tail of a proto enum name: `LOT_STATUS_PUBLISHED` with
/// prefix `LOT_STATUS_` is `published`.
fn short(full: &str, prefix: &str) -> String {
    full.strip_prefix(prefix).unwrap_or(full).to_lowercase()
}

/// The proto name of a lot status number.
pub fn lot_status(v: i32) -> &'static str {
    pb::LotStatus::try_from(v).map_or("LOT_STATUS_UNKNOWN", |s| s.as_str_name())
}

/// The proto name of a claim status number.
pub fn claim_status(v: i32) -> &'static str {
    pb::ClaimStatus::try_from(v).map_or("CLAIM_STATUS_UNKNOWN", |s| s.as_str_name())
}

/// The proto name of a partner status number.
pub fn partner_status(v: i32) -> &'static str {
    rpb::PartnerStatus::try_from(v).map_or("PARTNER_STATUS_UNKNOWN", |s| s.as_str_name())
}

fn hazard(v: i32) -> &'static str {
    pb::Hazard::try_from(v).map_or("HAZARD_UNKNOWN", |s| s.as_str_name())
}

fn reuse(v: i32) -> &'static str {
    pb::ReusePotential::try_from(v).map_or("REUSE_POTENTIAL_UNKNOWN", |s| s.as_str_name())
}

/// The acronym of a partner kind number (ACI, EI, ...).
pub fn kind(v: i32) -> String {
    rpb::PartnerKind::try_from(v).map_or_else(
        |_| "?".to_owned(),
        |k| short(k.as_str_name(), "PARTNER_KIND_").to_uppercase(),
    )
}

/// A lot status for people: `published`.
pub fn lot_status_short(v: i32) -> String {
    short(lot_status(v), "LOT_STATUS_")
}

/// A claim status for people: `handed_over`.
pub fn claim_status_short(v: i32) -> String {
    short(claim_status(v), "CLAIM_STATUS_")
}

/// A partner status for people: `verified`.
pub fn partner_status_short(v: i32) -> String {
    short(partner_status(v), "PARTNER_STATUS_")
}

fn domain_unit(v: i32) -> Option<Unit> {
    reemploi_inventory::model::unit_from_proto(v).ok()
}

/// Thousandths as a decimal string: 12500 is `12.5`.
pub fn decimal(milli: i64) -> String {
    Quantity::new(milli, Unit::Piece)
        .map_or_else(|_| format!("{milli}/1000"), |q| q.to_decimal_string())
}

/// A plain decimal (`1234.5`, `-0.25`), as machines write it, written
/// for people the one way the command writes every number: digits grouped
/// by three with a space, a decimal comma (`1 234,5`, `-0,25`).
pub fn fr(plain: &str) -> String {
    let (sign, digits) = plain
        .strip_prefix('-')
        .map_or(("", plain), |rest| ("-", rest));
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let mut out = format!("{sign}{}", group_digits(whole));
    if !fraction.is_empty() {
        out.push(',');
        out.push_str(fraction);
    }
    out
}

/// A quantity for people: `240 u`, `12,5 m²`, `1 200 u`.
pub fn quantity(q: Option<&tpb::Quantity>) -> String {
    let Some(q) = q else { return String::new() };
    format!("{} {}", fr(&decimal(q.milli)), unit_symbol(q.unit))
}

/// The symbol of a unit number: `u`, `m²`...
pub fn unit_symbol(v: i32) -> &'static str {
    match domain_unit(v) {
        Some(Unit::Piece) => "u",
        Some(Unit::Metre) => "m",
        Some(Unit::SquareMetre) => "m²",
        Some(Unit::CubicMetre) => "m³",
        Some(Unit::Kilogram) => "kg",
        Some(Unit::Tonne) => "t",
        Some(Unit::Litre) => "l",
        None => "?",
    }
}

/// A mass in grams for people: `6 000 kg` under 10 t, else `83,6 t`.
pub fn mass(grams: i64) -> String {
    if grams == 0 {
        return String::new();
    }
    if grams < 10_000_000 {
        format!("{} kg", group(grams / 1000))
    } else {
        tonnes(grams)
    }
}

/// Grams as tonnes with one decimal: `83,6 t`.
pub fn tonnes(grams: i64) -> String {
    // Display only: a float is fine for one decimal of tonnes.
    #[allow(clippy::cast_precision_loss)]
    let t = grams as f64 / 1e6;
    format!("{} t", fr(&format!("{t:.1}")))
}

/// A whole number with its digits grouped by three: `1 234 567`.
fn group(n: i64) -> String {
    fr(&n.to_string())
}

/// Decimal digits grouped by three from the right, with spaces.
fn group_digits(digits: &str) -> String {
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

/// Metres as kilometres with one decimal: `12,4 km`.
pub fn km(metres: i64) -> String {
    #[allow(clippy::cast_precision_loss)]
    let k = metres as f64 / 1000.0;
    format!("{} km", fr(&format!("{k:.1}")))
}

/// The last segment of a resource name, short enough for a table.
pub fn id(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

/// A site for people.
pub fn site_text(s: &pb::Site) -> String {
    let op = s.operation.clone().unwrap_or_default();
    let loc = s
        .location
        .map(|p| format!("{:.5}, {:.5}", p.latitude, p.longitude))
        .unwrap_or_default();
    crate::output::fields(&[
        ("name", s.name.clone()),
        ("display name", s.display_name.clone()),
        ("owner org", s.owner_org.clone()),
        (
            "operation",
            [op.programme, op.quartier, op.commune]
                .into_iter()
                .filter(|x| !x.is_empty())
                .collect::<Vec<_>>()
                .join(" · "),
        ),
        ("INSEE code", op.insee_code),
        ("address", s.address.clone()),
        ("location", loc),
        (
            "created",
            s.create_time.map(|t| t.to_string()).unwrap_or_default(),
        ),
    ])
}

/// The columns of [`site_row`].
pub const SITE_COLUMNS: &[&str] = &["NAME", "DISPLAY NAME", "OWNER", "COMMUNE", "CREATED"];

/// A site as a table row.
pub fn site_row(s: &pb::Site) -> Vec<String> {
    vec![
        s.name.clone(),
        s.display_name.clone(),
        s.owner_org.clone(),
        s.operation.clone().unwrap_or_default().commune,
        s.create_time.map(|t| t.to_string()).unwrap_or_default(),
    ]
}

/// A lot for people.
pub fn lot_text(l: &pb::Lot) -> String {
    let hazards: Vec<String> = l
        .hazards
        .iter()
        .map(|h| short(hazard(*h), "HAZARD_"))
        .collect();
    let mut text = crate::output::fields(&[
        ("name", l.name.clone()),
        ("reference", l.reference.clone()),
        ("designation", l.designation.clone()),
        ("category", l.category.clone()),
        ("status", lot_status_short(l.status)),
        ("quantity", quantity(l.quantity.as_ref())),
        ("available", quantity(l.available.as_ref())),
        ("reserved", quantity(l.reserved.as_ref())),
        ("handed over", quantity(l.handed_over.as_ref())),
        ("mass", mass(l.estimated_mass_g)),
        ("condition", l.condition.clone()),
        ("in building", l.building_location.clone()),
        ("waste code", l.waste_code.clone()),
        ("hazards", hazards.join(", ")),
        (
            "reuse",
            short(reuse(l.reuse_potential), "REUSE_POTENTIAL_").replace("unspecified", ""),
        ),
        ("description", l.description.clone()),
    ]);
    if l.hazardous {
        text.push_str("hazardous: yes — this lot can never be published for reuse\n");
    }
    text
}

/// The columns of [`lot_row`].
pub const LOT_COLUMNS: &[&str] = &[
    "NAME",
    "REF",
    "DESIGNATION",
    "CATEGORY",
    "QUANTITY",
    "AVAILABLE",
    "MASS",
    "STATUS",
];

/// A lot as a table row.
pub fn lot_row(l: &pb::Lot) -> Vec<String> {
    let status = if l.hazardous {
        format!("{} (hazardous)", lot_status_short(l.status))
    } else {
        lot_status_short(l.status)
    };
    vec![
        l.name.clone(),
        l.reference.clone(),
        l.designation.clone(),
        l.category.clone(),
        quantity(l.quantity.as_ref()),
        quantity(l.available.as_ref()),
        mass(l.estimated_mass_g),
        status,
    ]
}

/// The columns of [`claim_row`].
pub const CLAIM_COLUMNS: &[&str] = &[
    "NAME", "PARTNER", "QUANTITY", "STATUS", "WEIGHED", "EXPIRES",
];

/// A claim as a table row.
pub fn claim_row(c: &pb::Claim) -> Vec<String> {
    let expires = if c.status == pb::ClaimStatus::Reserved as i32 {
        c.reservation_expire_time
            .map(|t| t.to_string())
            .unwrap_or_default()
    } else {
        String::new()
    };
    vec![
        c.name.clone(),
        c.partner.clone(),
        quantity(c.quantity.as_ref()),
        claim_status_short(c.status),
        mass(c.weighed_mass_g),
        expires,
    ]
}

/// What `claims list` shows beside a claim, read from its lot and partner.
#[derive(Debug, Clone, Default)]
pub struct ClaimAbout {
    /// The lot's diagnostic reference.
    pub lot_reference: String,
    /// The lot's designation.
    pub lot_designation: String,
    /// The partner's name, or its resource name when it cannot be read.
    pub partner: String,
}

/// The columns of [`claim_list_row`].
pub const CLAIM_LIST_COLUMNS: &[&str] = &[
    "NAME", "REF", "LOT", "PARTNER", "QUANTITY", "STATUS", "WEIGHED", "EXPIRES",
];

/// A claim as a row of `claims list`: the claim's row with its lot's
/// reference and designation, and its partner's name.
pub fn claim_list_row(c: &pb::Claim, about: &ClaimAbout) -> Vec<String> {
    let mut row = vec![
        c.name.clone(),
        about.lot_reference.clone(),
        about.lot_designation.clone(),
        about.partner.clone(),
    ];
    // The claim's own columns after its NAME and PARTNER.
    row.extend(claim_row(c).into_iter().skip(2));
    row
}

/// A claim for people.
pub fn claim_text(c: &pb::Claim) -> String {
    crate::output::fields(&[
        ("name", c.name.clone()),
        ("partner", c.partner.clone()),
        ("quantity", quantity(c.quantity.as_ref())),
        ("status", claim_status_short(c.status)),
        (
            "expires",
            if c.status == pb::ClaimStatus::Reserved as i32 {
                c.reservation_expire_time
                    .map(|t| t.to_string())
                    .unwrap_or_default()
            } else {
                String::new()
            },
        ),
        ("collected", quantity(c.collected.as_ref())),
        ("trips", c.trip_count.to_string()),
        ("weighed", mass(c.weighed_mass_g)),
        (
            "handed over",
            c.handover_time.map(|t| t.to_string()).unwrap_or_default(),
        ),
        ("note", c.note.clone()),
        ("request id", c.request_id.clone()),
    ])
}

/// The columns of [`receipt_row`].
pub const RECEIPT_COLUMNS: &[&str] = &[
    "NUMBER",
    "LOT",
    "PARTNER",
    "QUANTITY",
    "WEIGHED",
    "COLLECTED",
    "HANDED OVER",
];

/// A receipt as a table row.
pub fn receipt_row(r: &pb::Receipt) -> Vec<String> {
    vec![
        r.number.clone(),
        r.lot.clone(),
        r.partner.clone(),
        quantity(r.quantity.as_ref()),
        mass(r.weighed_mass_g),
        format!(
            "{} / {}",
            quantity(r.collected.as_ref()),
            quantity(r.claim_quantity.as_ref())
        ),
        r.handover_time.map(|t| t.to_string()).unwrap_or_default(),
    ]
}

/// A receipt (bon d'enlèvement) for people.
pub fn receipt_text(r: &pb::Receipt) -> String {
    crate::output::fields(&[
        ("number", r.number.clone()),
        ("name", r.name.clone()),
        ("site", format!("{} ({})", r.site_display_name, r.site)),
        ("from", r.owner_org.clone()),
        ("to", r.partner.clone()),
        (
            "lot",
            format!("{} {} ({})", r.lot_reference, r.lot_designation, r.lot),
        ),
        ("quantity", quantity(r.quantity.as_ref())),
        ("weighed", mass(r.weighed_mass_g)),
        (
            "handed over",
            r.handover_time.map(|t| t.to_string()).unwrap_or_default(),
        ),
        (
            "collected",
            format!(
                "{} of {}, {}",
                quantity(r.collected.as_ref()),
                quantity(r.claim_quantity.as_ref()),
                mass(r.collected_mass_g)
            ),
        ),
        ("completes the claim", r.completes_claim.to_string()),
        ("recorded by", r.recorded_by.clone()),
    ])
}

/// The columns of [`partner_row`].
pub const PARTNER_COLUMNS: &[&str] = &[
    "NAME",
    "LEGAL NAME",
    "KINDS",
    "COMMUNE",
    "RADIUS",
    "INTAKE/WEEK",
    "STATUS",
];

/// A partner as a table row.
pub fn partner_row(p: &rpb::Partner) -> Vec<String> {
    vec![
        p.name.clone(),
        p.legal_name.clone(),
        p.kinds
            .iter()
            .map(|k| kind(*k))
            .collect::<Vec<_>>()
            .join(","),
        p.address.clone().unwrap_or_default().commune,
        format!("{} km", p.service_radius_km),
        if p.weekly_intake_kg > 0 {
            format!("{} kg", group(p.weekly_intake_kg))
        } else {
            String::new()
        },
        partner_status_short(p.status),
    ]
}

/// A partner for people.
pub fn partner_text(p: &rpb::Partner) -> String {
    let a = p.address.clone().unwrap_or_default();
    let address = [a.line1, a.postal_code, a.commune]
        .into_iter()
        .filter(|x| !x.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    crate::output::fields(&[
        ("name", p.name.clone()),
        ("legal name", p.legal_name.clone()),
        ("trade name", p.trade_name.clone()),
        ("SIRET", p.siret.clone()),
        (
            "kinds",
            p.kinds
                .iter()
                .map(|k| kind(*k))
                .collect::<Vec<_>>()
                .join(", "),
        ),
        ("status", partner_status_short(p.status)),
        ("address", address),
        (
            "location",
            p.location
                .map(|l| format!("{:.5}, {:.5}", l.latitude, l.longitude))
                .unwrap_or_default(),
        ),
        ("service radius", format!("{} km", p.service_radius_km)),
        ("accepts", p.accepted_categories.join(", ")),
        (
            "weekly intake",
            if p.weekly_intake_kg > 0 {
                format!("{} kg", group(p.weekly_intake_kg))
            } else {
                String::new()
            },
        ),
        (
            "insertion FTE",
            if p.insertion_fte_centi > 0 {
                fr(&decimal(p.insertion_fte_centi * 10))
            } else {
                String::new()
            },
        ),
    ])
}

/// A timestamp for people (RFC 3339), blank when absent.
pub fn timestamp(t: Option<&prost_types::Timestamp>) -> String {
    t.map(ToString::to_string).unwrap_or_default()
}

/// An account's role for people: `site_manager`.
pub fn account_role(a: &ipb::Account) -> String {
    ipb::AccountRole::try_from(a.role).map_or_else(
        |_| "?".to_owned(),
        |r| short(r.as_str_name(), "ACCOUNT_ROLE_"),
    )
}

/// An account's status for people: `active`.
fn account_status(a: &ipb::Account) -> String {
    ipb::AccountStatus::try_from(a.status).map_or_else(
        |_| "?".to_owned(),
        |s| short(s.as_str_name(), "ACCOUNT_STATUS_"),
    )
}

/// ` of ORG` or ` of PARTNER`, for the organisation or partner a role acts for.
pub fn grant_suffix(org: &str, partner: &str) -> String {
    match (org.is_empty(), partner.is_empty()) {
        (false, _) => format!(" of {org}"),
        (true, false) => format!(" of {partner}"),
        (true, true) => String::new(),
    }
}

/// The columns of [`account_row`].
pub const ACCOUNT_COLUMNS: &[&str] = &["NAME", "EMAIL", "ROLE", "OF", "STATUS", "CREATED"];

/// An account as a table row.
pub fn account_row(a: &ipb::Account) -> Vec<String> {
    vec![
        a.name.clone(),
        a.email.clone(),
        account_role(a),
        if a.org.is_empty() {
            a.partner.clone()
        } else {
            a.org.clone()
        },
        account_status(a),
        timestamp(a.create_time.as_ref()),
    ]
}

/// An account for people.
pub fn account_text(a: &ipb::Account) -> String {
    crate::output::fields(&[
        ("name", a.name.clone()),
        ("email", a.email.clone()),
        ("display name", a.display_name.clone()),
        ("role", account_role(a)),
        ("org", a.org.clone()),
        ("partner", a.partner.clone()),
        ("status", account_status(a)),
        ("created", timestamp(a.create_time.as_ref())),
    ])
}

/// The columns of [`api_token_row`].
pub const API_TOKEN_COLUMNS: &[&str] = &["NAME", "DISPLAY NAME", "CREATED", "EXPIRES", "REVOKED"];

/// An API token as a table row.
pub fn api_token_row(t: &ipb::ApiToken) -> Vec<String> {
    vec![
        t.name.clone(),
        t.display_name.clone(),
        timestamp(t.create_time.as_ref()),
        timestamp(t.expire_time.as_ref()),
        timestamp(t.revoke_time.as_ref()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_numbers() {
        assert_eq!(group(1234567), "1 234 567");
        assert_eq!(group(-1234), "-1 234");
        assert_eq!(fr("1234.568"), "1 234,568");
        assert_eq!(fr("-0.25"), "-0,25");
        assert_eq!(fr("240"), "240");
        assert_eq!(mass(6_000_000), "6 000 kg");
        assert_eq!(mass(83_600_000), "83,6 t");
        assert_eq!(tonnes(24_600_000), "24,6 t");
        assert_eq!(km(12_449), "12,4 km");
        assert_eq!(
            quantity(Some(&tpb::Quantity {
                unit: tpb::Unit::SquareMetre as i32,
                milli: 12_500
            })),
            "12,5 m²"
        );
        assert_eq!(
            lot_status_short(pb::LotStatus::Published as i32),
            "published"
        );
        assert_eq!(kind(rpb::PartnerKind::Aci as i32), "ACI");
    }
}
