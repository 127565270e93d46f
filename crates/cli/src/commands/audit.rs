//! `reemploi audit`: the audit trail of a site, a lot, a claim or a
//! partner (admins): every change, when, and by whom.

use clap::Args;
use reemploi_proto::audit as apb;
use reemploi_proto::identity::AccountRole;

use super::{Ctx, pages};
use crate::CliError;
use crate::client::answer;
use crate::output::emit_list;
use crate::views;

/// Flags of `audit`.
#[derive(Args, Debug)]
pub struct AuditArgs {
    /// `sites/SITE`, `sites/SITE/lots/LOT`, `sites/SITE/lots/LOT/claims/CLAIM`
    /// or `partners/PARTNER`.
    pub resource: String,
    /// At most this many entries, oldest first (0: all).
    #[arg(long, default_value_t = 200)]
    pub limit: usize,
}

/// Runs `audit`.
pub async fn run(ctx: &Ctx, a: AuditArgs) -> Result<(), CliError> {
    let audit = ctx.connect().await?.audit();
    let entries = pages(a.limit, |page_token, page_size| {
        let mut audit = audit.clone();
        let req = apb::ListAuditEntriesRequest {
            resource: a.resource.clone(),
            page_size,
            page_token,
        };
        async move {
            let page = answer(audit.list_audit_entries(req).await)?;
            Ok((page.entries, page.next_page_token))
        }
    })
    .await?;
    emit_list(
        ctx.format,
        &entries,
        crate::json::message,
        &["TIME", "EVENT", "RESOURCE", "VERSION", "BY"],
        |e| {
            vec![
                views::timestamp(e.occur_time.as_ref()),
                e.event_type
                    .strip_prefix("reemploi.")
                    .unwrap_or(&e.event_type)
                    .to_owned(),
                e.resource.clone(),
                e.resource_version.to_string(),
                actor(e.actor.as_ref()),
            ]
        },
        "entry in this trail",
    )
}

/// Who did it, in one cell: the account, its role and what it acts for.
fn actor(actor: Option<&reemploi_proto::events::Actor>) -> String {
    let Some(a) = actor else {
        return "the platform".to_owned();
    };
    let role = match AccountRole::try_from(a.role) {
        Ok(AccountRole::SiteManager) => "site manager",
        Ok(AccountRole::Partner) => "partner",
        Ok(AccountRole::Admin) => "admin",
        Ok(AccountRole::Integrator) => "integrator",
        Ok(AccountRole::Unspecified) | Err(_) => "unknown role",
    };
    let of = [a.organization.as_str(), a.partner.as_str()]
        .into_iter()
        .find(|s| !s.is_empty())
        .map(|s| format!(", {s}"))
        .unwrap_or_default();
    format!("{} ({role}{of})", a.subject)
}
