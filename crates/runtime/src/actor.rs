//! Who is acting: the principal of the call being served, for the events
//! the call makes to name (the audit trail reads it from them).
//!
//! A task-local slot rather than an argument: the principal is known to the
//! authentication interceptor and needed where events are built, far apart,
//! and every event of a call must carry it without each builder being
//! handed it. The slot is opened around the whole call by the server's
//! `rpc` layer ([`crate::server`]) and filled once the token is verified;
//! outside a call (a sweeper, a consumer) it is absent and events name no
//! actor: the platform did it.

use std::future::Future;
use std::sync::{Arc, OnceLock};

use reemploi_proto::events::Actor;
use reemploi_proto::identity::AccountRole;

use crate::auth::{Principal, Role};

tokio::task_local! {
    static CALLER: Arc<OnceLock<Actor>>;
}

/// The empty slot of one call.
#[derive(Clone, Default)]
pub(crate) struct Slot(Arc<OnceLock<Actor>>);

impl Slot {
    /// Runs `start` (which builds the call's future and, on the way,
    /// authenticates it) with the slot open.
    pub(crate) fn enter<R>(&self, start: impl FnOnce() -> R) -> R {
        CALLER.sync_scope(self.0.clone(), start)
    }

    /// `call` with the slot open while it runs.
    pub(crate) fn around<F: Future>(self, call: F) -> impl Future<Output = F::Output> {
        CALLER.scope(self.0, call)
    }
}

/// Records `principal` as the actor of the call being served, if any.
pub(crate) fn record(principal: &Principal) {
    let _ = CALLER.try_with(|slot| slot.set(actor(principal)));
}

/// The actor of the call being served, or `None` outside a call or before
/// it is authenticated.
pub fn current() -> Option<Actor> {
    CALLER.try_with(|slot| slot.get().cloned()).ok().flatten()
}

/// `principal` as events name it.
pub fn actor(principal: &Principal) -> Actor {
    let role = match principal.role {
        Role::SiteManager => AccountRole::SiteManager,
        Role::Partner => AccountRole::Partner,
        Role::Admin => AccountRole::Admin,
        Role::Integrator => AccountRole::Integrator,
    };
    Actor {
        subject: principal.subject.clone(),
        role: role as i32,
        organization: principal.org.clone().unwrap_or_default(),
        partner: principal
            .own_partner()
            .map(|id| format!("partners/{id}"))
            .unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn partner() -> Principal {
        Principal {
            subject: "acct-1".into(),
            role: Role::Partner,
            org: None,
            partner: Some("partners/0191e5a0-0000-7000-8000-000000000001".into()),
        }
    }

    #[tokio::test]
    async fn a_call_names_its_principal_and_nothing_else_does() {
        assert_eq!(current(), None);
        let slot = Slot::default();
        let seen = slot
            .enter(|| {
                record(&partner());
                slot.clone().around(async { current() })
            })
            .await;
        let seen = seen.expect("the call's actor");
        assert_eq!(seen.subject, "acct-1");
        assert_eq!(seen.role, AccountRole::Partner as i32);
        assert_eq!(
            seen.partner,
            "partners/0191e5a0-0000-7000-8000-000000000001"
        );
        assert_eq!(current(), None);
        // Another call's slot starts empty.
        let other = Slot::default();
        assert_eq!(other.around(async { current() }).await, None);
    }
}
