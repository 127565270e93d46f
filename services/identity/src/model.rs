//! What the identity service holds, validated once at the edge: emails,
//! grants (a role with the organisation or partner it needs), accounts,
//! invitations and API tokens, and their wire forms.

use reemploi_domain::DomainError;
use reemploi_proto::identity as pb;
use reemploi_runtime::auth::Role;
use reemploi_runtime::validation::Violation;
use reemploi_runtime::wire::millis_ts;
use uuid::Uuid;

/// Longest email accepted (RFC 5321's path limit).
const MAX_EMAIL_CHARS: usize = 254;
/// Longest display name, organisation or API token name.
pub const MAX_NAME_CHARS: usize = 200;

/// An email address, trimmed and lowercased: two spellings of one address
/// are one account.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    /// Checks `raw` for `field`: one `@` between a local part and a dotted
    /// domain, no spaces or control characters, at most 254 characters.
    pub fn parse(field: &str, raw: &str) -> Result<Email, Violation> {
        let email = raw.trim().to_lowercase();
        let bad = |why: &str| Violation::new(field, why.to_owned());
        if email.is_empty() {
            return Err(bad("required"));
        }
        if email.chars().count() > MAX_EMAIL_CHARS {
            return Err(bad("must be at most 254 characters"));
        }
        if email.chars().any(|c| {
            c.is_whitespace() || c.is_control() || reemploi_domain::text::is_bidi_control(c)
        }) {
            return Err(bad("must not contain spaces or control characters"));
        }
        match email.split_once('@') {
            Some((local, domain))
                if !local.is_empty()
                    && !domain.contains('@')
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.') =>
            {
                Ok(Email(email))
            }
            _ => Err(bad("must be an email address like name@example.org")),
        }
    }

    /// The address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A role with what it needs: the organisation of a site manager, the
/// partner of a partner's staff, nothing for the others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The role.
    pub role: Role,
    /// The organisation (site managers only).
    pub org: Option<String>,
    /// The partner (partners only).
    pub partner: Option<Uuid>,
}

impl Grant {
    /// Checks a role and its organisation or partner as a client sent them
    /// (`prefix` names the message).
    pub fn from_proto(
        prefix: &str,
        role: i32,
        org: &str,
        partner: &str,
    ) -> Result<Grant, Vec<Violation>> {
        let field = |f: &str| {
            if prefix.is_empty() {
                f.to_owned()
            } else {
                format!("{prefix}.{f}")
            }
        };
        let role = role_from_proto(role).ok_or_else(|| {
            vec![Violation::new(
                field("role"),
                "must be SITE_MANAGER, PARTNER, ADMIN or INTEGRATOR",
            )]
        })?;
        let org = reemploi_domain::text::optional("org", org, MAX_NAME_CHARS)
            .map_err(|e| vec![Violation::from_domain(prefix, &e)])?;
        let partner = match partner.trim() {
            "" => None,
            p => Some(
                reemploi_runtime::names::parse(&field("partner"), p, "partners/{partner}")
                    .map_err(|v| vec![v])?[0],
            ),
        };
        let grant = Grant { role, org, partner };
        grant
            .check()
            .map_err(|(f, why)| vec![Violation::new(field(f), why)])?;
        Ok(grant)
    }

    /// The role's needs: `Err((field, why))` when unmet.
    pub fn check(&self) -> Result<(), (&'static str, &'static str)> {
        match (self.role, &self.org, &self.partner) {
            (Role::SiteManager, None, _) => Err(("org", "a site manager needs an organisation")),
            (Role::Partner, _, None) => Err(("partner", "a partner's account needs its partner")),
            (Role::SiteManager, Some(_), Some(_)) => {
                Err(("partner", "a site manager has no partner"))
            }
            (Role::Partner, Some(_), Some(_)) => Err(("org", "a partner's account has no org")),
            (Role::Admin | Role::Integrator, Some(_), _) => {
                Err(("org", "only site managers have an organisation"))
            }
            (Role::Admin | Role::Integrator, None, Some(_)) => {
                Err(("partner", "only partners' accounts have a partner"))
            }
            (Role::SiteManager, Some(_), None)
            | (Role::Partner, None, Some(_))
            | (Role::Admin | Role::Integrator, None, None) => Ok(()),
        }
    }

    /// `partners/{id}`, or empty.
    pub fn partner_name(&self) -> String {
        self.partner
            .map(|p| format!("partners/{p}"))
            .unwrap_or_default()
    }
}

/// The role of a wire enum value, if it is one.
pub fn role_from_proto(role: i32) -> Option<Role> {
    match pb::AccountRole::try_from(role).ok()? {
        pb::AccountRole::SiteManager => Some(Role::SiteManager),
        pb::AccountRole::Partner => Some(Role::Partner),
        pb::AccountRole::Admin => Some(Role::Admin),
        pb::AccountRole::Integrator => Some(Role::Integrator),
        pb::AccountRole::Unspecified => None,
    }
}

/// The wire enum of a role.
pub fn role_to_proto(role: Role) -> pb::AccountRole {
    match role {
        Role::SiteManager => pb::AccountRole::SiteManager,
        Role::Partner => pb::AccountRole::Partner,
        Role::Admin => pb::AccountRole::Admin,
        Role::Integrator => pb::AccountRole::Integrator,
    }
}

/// Whether an account may sign in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountStatus {
    /// It may.
    Active,
    /// An admin disabled it.
    Disabled,
}

impl AccountStatus {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            AccountStatus::Active => "active",
            AccountStatus::Disabled => "disabled",
        }
    }

    /// The stored form read back.
    pub fn parse(s: &str) -> Result<AccountStatus, DomainError> {
        match s {
            "active" => Ok(AccountStatus::Active),
            "disabled" => Ok(AccountStatus::Disabled),
            other => Err(DomainError::invalid(
                "status",
                format!("unknown stored status {other:?}"),
            )),
        }
    }
}

/// An account as stored.
#[derive(Debug, Clone)]
pub struct Account {
    /// Its id.
    pub id: Uuid,
    /// Its email.
    pub email: Email,
    /// How it is shown.
    pub display_name: String,
    /// What it may do.
    pub grant: Grant,
    /// Whether it may sign in.
    pub status: AccountStatus,
    /// Its argon2id hash, if it has a password.
    pub password_hash: Option<String>,
    /// When it was created (Unix ms).
    pub created_at: i64,
    /// Last change (Unix ms).
    pub updated_at: i64,
    /// Changes with every change.
    pub version: i64,
}

impl Account {
    /// `accounts/{id}`: its resource name, and the `sub` of its tokens.
    pub fn name(&self) -> String {
        format!("accounts/{}", self.id)
    }

    /// The wire form (never with the password hash).
    pub fn to_proto(&self) -> pb::Account {
        pb::Account {
            name: self.name(),
            email: self.email.to_string(),
            display_name: self.display_name.clone(),
            role: role_to_proto(self.grant.role) as i32,
            org: self.grant.org.clone().unwrap_or_default(),
            partner: self.grant.partner_name(),
            status: match self.status {
                AccountStatus::Active => pb::AccountStatus::Active,
                AccountStatus::Disabled => pb::AccountStatus::Disabled,
            } as i32,
            create_time: Some(millis_ts(self.created_at)),
            etag: reemploi_runtime::wire::etag(self.version),
        }
    }
}

/// An invitation as stored.
#[derive(Debug, Clone)]
pub struct Invitation {
    /// Its id.
    pub id: Uuid,
    /// Who is invited.
    pub email: Email,
    /// The account it will create.
    pub grant: Grant,
    /// Who invited (`accounts/{id}`, or `setup` for the first admin).
    pub invited_by: String,
    /// When the link stops working (Unix ms).
    pub expires_at: i64,
    /// When it was accepted, if it was.
    pub accepted_at: Option<i64>,
}

impl Invitation {
    /// The wire form, with the link's code when it is being handed out.
    pub fn to_proto(&self, code: Option<&str>) -> pb::Invitation {
        pb::Invitation {
            name: format!("invitations/{}", self.id),
            email: self.email.to_string(),
            role: role_to_proto(self.grant.role) as i32,
            org: self.grant.org.clone().unwrap_or_default(),
            partner: self.grant.partner_name(),
            expire_time: Some(millis_ts(self.expires_at)),
            code: code.unwrap_or_default().to_owned(),
        }
    }
}

/// An API token as stored (its secret never is).
#[derive(Debug, Clone)]
pub struct ApiToken {
    /// Its id.
    pub id: Uuid,
    /// What it is for.
    pub display_name: String,
    /// Who created it.
    pub created_by: String,
    /// When it was created (Unix ms).
    pub created_at: i64,
    /// When it stops working (Unix ms).
    pub expires_at: i64,
    /// When it was revoked, if it was.
    pub revoked_at: Option<i64>,
}

impl ApiToken {
    /// `apiTokens/{id}`: its resource name, and the `sub` of its JWT.
    pub fn name(&self) -> String {
        format!("apiTokens/{}", self.id)
    }

    /// The wire form.
    pub fn to_proto(&self) -> pb::ApiToken {
        pb::ApiToken {
            name: self.name(),
            display_name: self.display_name.clone(),
            expire_time: Some(millis_ts(self.expires_at)),
            revoke_time: self.revoked_at.map(millis_ts),
            create_time: Some(millis_ts(self.created_at)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_one_account_whatever_their_case() {
        let a = Email::parse("email", "  Marie.Dupont@Example.ORG ").unwrap();
        assert_eq!(a.as_str(), "marie.dupont@example.org");
        for bad in [
            "",
            "marie",
            "marie@",
            "@example.org",
            "a@b",
            "a b@c.fr",
            "a@@b.fr",
        ] {
            assert!(Email::parse("email", bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn every_role_needs_what_it_needs() {
        let g = |role, org: &str, partner: &str| {
            Grant::from_proto("", role_to_proto(role) as i32, org, partner)
        };
        let p = "partners/0190c5a3-7b1e-7c4d-8f00-3a2b1c0d9e8f";
        assert!(g(Role::SiteManager, "m2A", "").is_ok());
        assert!(g(Role::SiteManager, "", "").is_err());
        assert!(g(Role::Partner, "", p).is_ok());
        assert!(g(Role::Partner, "", "").is_err());
        assert!(g(Role::Admin, "", "").is_ok());
        assert!(g(Role::Admin, "m2A", "").is_err());
        assert!(g(Role::Integrator, "", p).is_err());
        assert!(Grant::from_proto("", 0, "", "").is_err());
    }
}
