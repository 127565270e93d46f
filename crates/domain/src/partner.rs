//! The lifecycle of an ESS partner and its typology.

use crate::DomainError;

/// Where a partner stands with the territory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PartnerStatus {
    /// Registered, awaiting verification.
    Pending,
    /// Verified by an admin: may claim lots and be matched.
    Verified,
    /// Suspended by an admin.
    Suspended,
    /// Archived for good.
    Archived,
}

impl PartnerStatus {
    /// Every status.
    pub const ALL: [PartnerStatus; 4] = [
        PartnerStatus::Pending,
        PartnerStatus::Verified,
        PartnerStatus::Suspended,
        PartnerStatus::Archived,
    ];

    /// Stable lowercase name, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            PartnerStatus::Pending => "pending",
            PartnerStatus::Verified => "verified",
            PartnerStatus::Suspended => "suspended",
            PartnerStatus::Archived => "archived",
        }
    }

    /// Parses a stored name; field `status`.
    pub fn parse(s: &str) -> Result<PartnerStatus, DomainError> {
        Self::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| DomainError::invalid("status", format!("unknown partner status `{s}`")))
    }

    /// Only verified partners may claim lots or be matched.
    pub fn may_take_materials(self) -> bool {
        self == PartnerStatus::Verified
    }
}

impl std::fmt::Display for PartnerStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Something an admin does to a partner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartnerAction {
    /// Pending -> Verified.
    Verify,
    /// Verified -> Suspended.
    Suspend,
    /// Suspended -> Verified.
    Reinstate,
    /// Any but Archived -> Archived.
    Archive,
}

impl PartnerAction {
    /// Every action.
    pub const ALL: [PartnerAction; 4] = [
        PartnerAction::Verify,
        PartnerAction::Suspend,
        PartnerAction::Reinstate,
        PartnerAction::Archive,
    ];

    /// Stable lowercase verb.
    pub fn as_str(self) -> &'static str {
        match self {
            PartnerAction::Verify => "verify",
            PartnerAction::Suspend => "suspend",
            PartnerAction::Reinstate => "reinstate",
            PartnerAction::Archive => "archive",
        }
    }
}

/// The partner state machine: Verify: Pending -> Verified; Suspend: Verified
/// -> Suspended; Reinstate: Suspended -> Verified; Archive: Pending | Verified
/// | Suspended -> Archived. Anything else: [`DomainError::Transition`].
pub fn transition(
    from: PartnerStatus,
    action: PartnerAction,
) -> Result<PartnerStatus, DomainError> {
    use PartnerAction as A;
    use PartnerStatus as S;
    match (from, action) {
        (S::Pending, A::Verify) | (S::Suspended, A::Reinstate) => Ok(S::Verified),
        (S::Verified, A::Suspend) => Ok(S::Suspended),
        (S::Pending | S::Verified | S::Suspended, A::Archive) => Ok(S::Archived),
        _ => Err(DomainError::Transition {
            entity: "partner",
            from: from.as_str(),
            action: action.as_str(),
        }),
    }
}

/// A kind of social and solidarity economy structure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PartnerKind {
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
    /// Entreprise adaptée.
    Ea,
    /// Entreprise adaptée de travail temporaire.
    Eatt,
    /// Groupement d'employeurs pour l'insertion et la qualification.
    Geiq,
    /// Ressourcerie or recyclerie.
    Ressourcerie,
    /// Association.
    Association,
    /// Société coopérative et participative.
    Scop,
    /// Société coopérative d'intérêt collectif.
    Scic,
}

impl PartnerKind {
    /// Every kind.
    pub const ALL: [PartnerKind; 12] = [
        PartnerKind::Aci,
        PartnerKind::Ai,
        PartnerKind::Ei,
        PartnerKind::Eiti,
        PartnerKind::Etti,
        PartnerKind::Ea,
        PartnerKind::Eatt,
        PartnerKind::Geiq,
        PartnerKind::Ressourcerie,
        PartnerKind::Association,
        PartnerKind::Scop,
        PartnerKind::Scic,
    ];

    /// The usual French acronym, as stored and as found in directories.
    pub fn code(self) -> &'static str {
        match self {
            PartnerKind::Aci => "ACI",
            PartnerKind::Ai => "AI",
            PartnerKind::Ei => "EI",
            PartnerKind::Eiti => "EITI",
            PartnerKind::Etti => "ETTI",
            PartnerKind::Ea => "EA",
            PartnerKind::Eatt => "EATT",
            PartnerKind::Geiq => "GEIQ",
            PartnerKind::Ressourcerie => "RESSOURCERIE",
            PartnerKind::Association => "ASSO",
            PartnerKind::Scop => "SCOP",
            PartnerKind::Scic => "SCIC",
        }
    }

    /// Parses an acronym, case-insensitively ("ASSOCIATION" and "RECYCLERIE" too); field `kinds`.
    pub fn parse(s: &str) -> Result<PartnerKind, DomainError> {
        let up = s.trim().to_uppercase();
        let up = match up.as_str() {
            "ASSOCIATION" => "ASSO",
            "RECYCLERIE" => "RESSOURCERIE",
            other => other,
        };
        Self::ALL
            .into_iter()
            .find(|k| k.code() == up)
            .ok_or_else(|| DomainError::invalid("kinds", format!("unknown structure kind `{s}`")))
    }

    /// Structures of insertion by economic activity (SIAE), which get a matching bonus.
    pub fn is_insertion(self) -> bool {
        matches!(
            self,
            PartnerKind::Aci
                | PartnerKind::Ai
                | PartnerKind::Ei
                | PartnerKind::Eiti
                | PartnerKind::Etti
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transition_table() {
        use PartnerAction as A;
        use PartnerStatus as S;
        let allowed = [
            (S::Pending, A::Verify, S::Verified),
            (S::Verified, A::Suspend, S::Suspended),
            (S::Suspended, A::Reinstate, S::Verified),
            (S::Pending, A::Archive, S::Archived),
            (S::Verified, A::Archive, S::Archived),
            (S::Suspended, A::Archive, S::Archived),
        ];
        for from in PartnerStatus::ALL {
            for action in PartnerAction::ALL {
                let expected = allowed
                    .iter()
                    .find(|(f, a, _)| *f == from && *a == action)
                    .map(|(_, _, to)| *to);
                match (transition(from, action), expected) {
                    (Ok(to), Some(want)) => assert_eq!(to, want),
                    (Err(DomainError::Transition { .. }), None) => {}
                    (got, want) => panic!("{from:?} {action:?}: got {got:?}, want {want:?}"),
                }
            }
        }
    }

    #[test]
    fn kinds_parse_and_only_siae_get_the_bonus() {
        for k in PartnerKind::ALL {
            assert_eq!(PartnerKind::parse(&k.code().to_lowercase()), Ok(k));
        }
        assert_eq!(
            PartnerKind::parse("Association"),
            Ok(PartnerKind::Association)
        );
        assert!(PartnerKind::parse("SARL").is_err());
        assert!(PartnerKind::Aci.is_insertion());
        assert!(!PartnerKind::Scic.is_insertion());
        assert!(PartnerStatus::Verified.may_take_materials());
        assert!(!PartnerStatus::Suspended.may_take_materials());
    }
}
