//! What the service keeps: kinds of notification, the audiences they are
//! addressed to, the email modes, and a notification as stored.

use reemploi_proto::notify as pb;
use reemploi_runtime::auth::{Principal, Role};
use reemploi_runtime::wire::millis_ts;
use uuid::Uuid;

/// What a notification is about; each kind has one audience role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// A lot was proposed to a partner.
    LotProposed,
    /// A lot proposed to a partner meets one of its needs.
    NeedMatched,
    /// A partner's claim was confirmed.
    ClaimConfirmed,
    /// A partner's claim was rejected.
    ClaimRejected,
    /// A partner's reservation expires within 24 hours.
    ReservationExpiring,
    /// A lot a partner claimed was withdrawn.
    ClaimedLotWithdrawn,
    /// A partner was verified.
    PartnerVerified,
    /// A partner was suspended.
    PartnerSuspended,
    /// A lot of an organisation was claimed.
    ClaimReserved,
    /// A claim on a lot of an organisation was cancelled.
    ClaimCancelled,
    /// A pick-up was booked on a site of an organisation.
    PickupBooked,
    /// A published lot of an organisation expires soon, unclaimed.
    LotExpiring,
    /// A partner waits for verification.
    PartnerPending,
    /// An event was set aside as a dead letter.
    DeadLetter,
}

/// How a kind reaches an account by email.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Not at all.
    Off,
    /// One email each, as they come.
    Immediate,
    /// In the day's digest.
    Digest,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Kind; 14] = [
        Kind::LotProposed,
        Kind::NeedMatched,
        Kind::ClaimConfirmed,
        Kind::ClaimRejected,
        Kind::ReservationExpiring,
        Kind::ClaimedLotWithdrawn,
        Kind::PartnerVerified,
        Kind::PartnerSuspended,
        Kind::ClaimReserved,
        Kind::ClaimCancelled,
        Kind::PickupBooked,
        Kind::LotExpiring,
        Kind::PartnerPending,
        Kind::DeadLetter,
    ];

    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::LotProposed => "lot_proposed",
            Kind::NeedMatched => "need_matched",
            Kind::ClaimConfirmed => "claim_confirmed",
            Kind::ClaimRejected => "claim_rejected",
            Kind::ReservationExpiring => "reservation_expiring",
            Kind::ClaimedLotWithdrawn => "claimed_lot_withdrawn",
            Kind::PartnerVerified => "partner_verified",
            Kind::PartnerSuspended => "partner_suspended",
            Kind::ClaimReserved => "claim_reserved",
            Kind::ClaimCancelled => "claim_cancelled",
            Kind::PickupBooked => "pickup_booked",
            Kind::LotExpiring => "lot_expiring",
            Kind::PartnerPending => "partner_pending",
            Kind::DeadLetter => "dead_letter",
        }
    }

    /// From its stored form.
    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// On the wire.
    pub fn to_proto(self) -> pb::NotificationKind {
        use pb::NotificationKind as P;
        match self {
            Kind::LotProposed => P::LotProposed,
            Kind::NeedMatched => P::NeedMatched,
            Kind::ClaimConfirmed => P::ClaimConfirmed,
            Kind::ClaimRejected => P::ClaimRejected,
            Kind::ReservationExpiring => P::ReservationExpiring,
            Kind::ClaimedLotWithdrawn => P::ClaimedLotWithdrawn,
            Kind::PartnerVerified => P::PartnerVerified,
            Kind::PartnerSuspended => P::PartnerSuspended,
            Kind::ClaimReserved => P::ClaimReserved,
            Kind::ClaimCancelled => P::ClaimCancelled,
            Kind::PickupBooked => P::PickupBooked,
            Kind::LotExpiring => P::LotExpiring,
            Kind::PartnerPending => P::PartnerPending,
            Kind::DeadLetter => P::DeadLetter,
        }
    }

    /// From the wire; `None` for an unset or unknown value.
    pub fn from_proto(value: i32) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.to_proto() as i32 == value)
    }

    /// The role of the accounts it is addressed to.
    pub fn role(self) -> Role {
        match self {
            Kind::LotProposed
            | Kind::NeedMatched
            | Kind::ClaimConfirmed
            | Kind::ClaimRejected
            | Kind::ReservationExpiring
            | Kind::ClaimedLotWithdrawn
            | Kind::PartnerVerified
            | Kind::PartnerSuspended => Role::Partner,
            Kind::ClaimReserved | Kind::ClaimCancelled | Kind::PickupBooked | Kind::LotExpiring => {
                Role::SiteManager
            }
            Kind::PartnerPending | Kind::DeadLetter => Role::Admin,
        }
    }

    /// Its email mode until the account chooses: proposals come many a
    /// day, so in the digest; everything else as it comes.
    pub fn default_mode(self) -> Mode {
        match self {
            Kind::LotProposed => Mode::Digest,
            Kind::NeedMatched
            | Kind::ClaimConfirmed
            | Kind::ClaimRejected
            | Kind::ReservationExpiring
            | Kind::ClaimedLotWithdrawn
            | Kind::PartnerVerified
            | Kind::PartnerSuspended
            | Kind::ClaimReserved
            | Kind::ClaimCancelled
            | Kind::PickupBooked
            | Kind::LotExpiring
            | Kind::PartnerPending
            | Kind::DeadLetter => Mode::Immediate,
        }
    }

    /// The kinds an account of `role` receives.
    pub fn of_role(role: Role) -> impl Iterator<Item = Kind> {
        Kind::ALL.into_iter().filter(move |k| k.role() == role)
    }
}

impl Mode {
    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Off => "off",
            Mode::Immediate => "immediate",
            Mode::Digest => "digest",
        }
    }

    /// From its stored form.
    pub fn parse(s: &str) -> Option<Mode> {
        [Mode::Off, Mode::Immediate, Mode::Digest]
            .into_iter()
            .find(|m| m.as_str() == s)
    }

    /// On the wire.
    pub fn to_proto(self) -> pb::EmailMode {
        match self {
            Mode::Off => pb::EmailMode::Off,
            Mode::Immediate => pb::EmailMode::Immediate,
            Mode::Digest => pb::EmailMode::Digest,
        }
    }

    /// From the wire; `None` for an unset or unknown value.
    pub fn from_proto(value: i32) -> Option<Mode> {
        match pb::EmailMode::try_from(value).ok()? {
            pb::EmailMode::Unspecified => None,
            pb::EmailMode::Off => Some(Mode::Off),
            pb::EmailMode::Immediate => Some(Mode::Immediate),
            pb::EmailMode::Digest => Some(Mode::Digest),
        }
    }
}

/// Whom a notification is for: every account of it reads it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Audience {
    /// The staff of one partner.
    Partner(Uuid),
    /// The site managers of one organisation.
    Org(String),
    /// The territory's admins.
    Admins,
}

impl Audience {
    /// As stored.
    pub fn key(&self) -> String {
        match self {
            Audience::Partner(id) => format!("partner:{id}"),
            Audience::Org(org) => format!("org:{org}"),
            Audience::Admins => "admins".to_owned(),
        }
    }

    /// From its stored form.
    pub fn parse(key: &str) -> Option<Audience> {
        if key == "admins" {
            return Some(Audience::Admins);
        }
        if let Some(id) = key.strip_prefix("partner:") {
            return Uuid::try_parse(id).ok().map(Audience::Partner);
        }
        key.strip_prefix("org:")
            .filter(|org| !org.is_empty())
            .map(|org| Audience::Org(org.to_owned()))
    }

    /// The audience a caller belongs to; integrators have none (they
    /// follow events through webhooks).
    pub fn of(p: &Principal) -> Option<Audience> {
        match p.role {
            Role::Partner => p.own_partner().map(Audience::Partner),
            Role::SiteManager => p.org.clone().map(Audience::Org),
            Role::Admin => Some(Audience::Admins),
            Role::Integrator => None,
        }
    }
}

/// A notification about to be stored: made from an event, or by the clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft {
    /// Makes it once: the same key is never stored twice.
    pub dedup: String,
    /// Whom it is for.
    pub audience: Audience,
    /// What it is about.
    pub kind: Kind,
    /// One French sentence.
    pub title: String,
    /// A few more words, possibly empty.
    pub body: String,
    /// The resource concerned.
    pub resource: String,
    /// The web app's page about it, possibly empty.
    pub link: String,
    /// The event it comes from, if any.
    pub event_id: Option<String>,
}

/// A notification as stored, with the reader's read time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// Its order among all notifications.
    pub seq: i64,
    /// Its id, in its name.
    pub id: Uuid,
    /// Whom it is for.
    pub audience: String,
    /// What it is about.
    pub kind: Kind,
    /// One French sentence.
    pub title: String,
    /// A few more words.
    pub body: String,
    /// The resource concerned.
    pub resource: String,
    /// The web app's page.
    pub link: String,
    /// When it was made (Unix ms).
    pub created_at: i64,
    /// When the reader read it (Unix ms).
    pub read_at: Option<i64>,
}

impl Stored {
    /// `notifications/{id}`.
    pub fn name(&self) -> String {
        format!("notifications/{}", self.id)
    }

    /// On the wire.
    pub fn to_proto(&self) -> pb::Notification {
        pb::Notification {
            name: self.name(),
            kind: self.kind.to_proto() as i32,
            title: self.title.clone(),
            body: self.body.clone(),
            resource: self.resource.clone(),
            link: self.link.clone(),
            create_time: Some(millis_ts(self.created_at)),
            read_time: self.read_at.map(millis_ts),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_modes_round_trip() {
        for k in Kind::ALL {
            assert_eq!(Kind::parse(k.as_str()), Some(k));
            assert_eq!(Kind::from_proto(k.to_proto() as i32), Some(k));
        }
        assert_eq!(Kind::from_proto(0), None);
        for m in [Mode::Off, Mode::Immediate, Mode::Digest] {
            assert_eq!(Mode::parse(m.as_str()), Some(m));
            assert_eq!(Mode::from_proto(m.to_proto() as i32), Some(m));
        }
        assert_eq!(Mode::from_proto(0), None);
        let every_role: usize = [Role::Partner, Role::SiteManager, Role::Admin]
            .into_iter()
            .map(|r| Kind::of_role(r).count())
            .sum();
        assert_eq!(every_role, Kind::ALL.len());
    }

    #[test]
    fn audiences_round_trip() {
        for a in [
            Audience::Partner(Uuid::now_v7()),
            Audience::Org("m2a".into()),
            Audience::Admins,
        ] {
            assert_eq!(Audience::parse(&a.key()), Some(a));
        }
        assert_eq!(Audience::parse("org:"), None);
        assert_eq!(Audience::parse("partner:nope"), None);
    }
}
