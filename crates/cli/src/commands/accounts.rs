//! `reemploi accounts`: invitations and the accounts they make (admins
//! invite and manage; partners invite their colleagues), and accepting an
//! invitation, which needs no login.

use clap::{Args, Subcommand};
use reemploi_proto::identity as ipb;
use reemploi_runtime::auth::Role;

use super::{Ctx, pages};
use crate::CliError;
use crate::client::{answer, partner_name};
use crate::output::{emit, emit_list};
use crate::{prompt, views};

/// The `accounts` subcommands.
#[derive(Subcommand, Debug)]
pub enum AccountsCommand {
    /// Invites someone by email; prints the invitation's code (also mailed).
    #[command(
        after_help = "Examples:\n  reemploi accounts invite --email lea@m2a.example --role site_manager --org m2a-habitat\n  reemploi accounts invite --email sam@atelier.example --role partner --partner partners/…"
    )]
    Invite(InviteArgs),
    /// Accepts an invitation: sets your password (asked twice) and makes
    /// your account. Needs no login.
    #[command(
        after_help = "Examples:\n  reemploi accounts accept --code inv_… --name \"Léa Martin\"\n  printf '%s\\n' \"$PASSWORD\" | reemploi accounts accept --code inv_… --name \"Léa Martin\""
    )]
    Accept(AcceptArgs),
    /// Lists accounts, newest first (admins).
    #[command(
        after_help = "Examples:\n  reemploi accounts list\n  reemploi accounts list --output json"
    )]
    List(ListArgs),
    /// Shows one account (`me` for your own).
    #[command(
        after_help = "Examples:\n  reemploi accounts show me\n  reemploi accounts show accounts/…"
    )]
    Show(NameArgs),
    /// Disables an account (admins): its sessions and tokens stop working
    /// everywhere within a second.
    #[command(after_help = "Example:\n  reemploi accounts disable accounts/…")]
    Disable(NameArgs),
}

/// The account role of a role.
fn proto_role(role: Role) -> ipb::AccountRole {
    match role {
        Role::SiteManager => ipb::AccountRole::SiteManager,
        Role::Partner => ipb::AccountRole::Partner,
        Role::Admin => ipb::AccountRole::Admin,
        Role::Integrator => ipb::AccountRole::Integrator,
    }
}

/// Flags of `accounts invite`.
#[derive(Args, Debug)]
pub struct InviteArgs {
    /// Who is invited.
    #[arg(long, value_name = "EMAIL")]
    pub email: String,
    /// The role of the account: site_manager (needs --org), partner (needs
    /// --partner), admin or integrator.
    #[arg(long, value_enum)]
    pub role: Role,
    /// The organisation of a site manager, e.g. m2a-habitat.
    #[arg(long, required_if_eq("role", "site_manager"))]
    pub org: Option<String>,
    /// The partner of a partner's staff: `partners/ID` or `ID`.
    #[arg(long, required_if_eq("role", "partner"))]
    pub partner: Option<String>,
    /// Their name, for the message (they choose their own when accepting).
    #[arg(long)]
    pub name: Option<String>,
}

/// Flags of `accounts accept`.
#[derive(Args, Debug)]
pub struct AcceptArgs {
    /// The invitation's code (`inv_…`), from the mail or the inviter.
    #[arg(long)]
    pub code: String,
    /// Your name, as others will see it [default: asked on the terminal].
    #[arg(long)]
    pub name: Option<String>,
}

/// Flags of `accounts list`.
#[derive(Args, Debug)]
pub struct ListArgs {
    /// At most this many accounts; 0 for all.
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
}

/// An account named on the command line.
#[derive(Args, Debug)]
pub struct NameArgs {
    /// The account: `accounts/ID`, `ID`, or `me`.
    pub account: String,
}

/// `accounts/ID` from `ID`, `accounts/ID` or `me`.
fn account_name(id: &str) -> String {
    let id = id.trim();
    if id.starts_with("accounts/") {
        id.to_owned()
    } else {
        format!("accounts/{id}")
    }
}

/// Runs an `accounts` subcommand.
pub async fn run(ctx: &Ctx, cmd: AccountsCommand) -> Result<(), CliError> {
    match cmd {
        AccountsCommand::Invite(a) => invite(ctx, a).await,
        AccountsCommand::Accept(a) => accept(ctx, a).await,
        AccountsCommand::List(a) => list(ctx, a).await,
        AccountsCommand::Show(a) => {
            let mut identity = ctx.connect().await?.identity();
            let req = ipb::GetAccountRequest {
                name: account_name(&a.account),
            };
            let account = answer(identity.get_account(req).await)?;
            emit(ctx.format, crate::json::message(&account), || {
                views::account_text(&account)
            })
        }
        AccountsCommand::Disable(a) => {
            let mut identity = ctx.connect().await?.identity();
            let req = ipb::DisableAccountRequest {
                name: account_name(&a.account),
            };
            let account = answer(identity.disable_account(req).await)?;
            emit(ctx.format, crate::json::message(&account), || {
                format!(
                    "disabled {} ({}): its sessions and tokens stop working within a second\n",
                    account.name, account.email
                )
            })
        }
    }
}

/// `accounts invite`.
async fn invite(ctx: &Ctx, a: InviteArgs) -> Result<(), CliError> {
    let mut identity = ctx.connect().await?.identity();
    let invitation = ipb::Invitation {
        email: a.email.trim().to_owned(),
        role: proto_role(a.role) as i32,
        org: a.org.unwrap_or_default(),
        partner: a.partner.as_deref().map(partner_name).unwrap_or_default(),
        ..Default::default()
    };
    let req = ipb::CreateInvitationRequest {
        invitation: Some(invitation),
    };
    let made = answer(identity.create_invitation(req).await)?;
    let who = a.name.map(|n| format!("{n} <{}>", made.email));
    emit(ctx.format, crate::json::message(&made), || {
        format!(
            "invited {} as {}{}; a mail with the link was sent to them\n\
             code: {}\n\
             they run: reemploi accounts accept --code {}\n\
             the code works once, until {}\n",
            who.as_deref().unwrap_or(&made.email),
            a.role,
            views::grant_suffix(&made.org, &made.partner),
            made.code,
            made.code,
            views::timestamp(made.expire_time.as_ref()),
        )
    })
}

/// `accounts accept`: needs no login; does not touch the stored session
/// (whoever accepts signs in afterwards).
async fn accept(ctx: &Ctx, a: AcceptArgs) -> Result<(), CliError> {
    let display_name = prompt::name(a.name, "--name")?;
    let password = prompt::new_password()?;
    let mut identity = ctx.connect_anonymous().await?.identity();
    let session = answer(
        identity
            .accept_invitation(ipb::AcceptInvitationRequest {
                code: a.code.trim().to_owned(),
                password,
                display_name,
            })
            .await,
    )?;
    let account = session.account.unwrap_or_default();
    emit(ctx.format, crate::json::message(&account), || {
        format!(
            "account {} made for {} ({})\nsign in: reemploi login --email {}\n",
            account.name,
            account.email,
            views::account_role(&account),
            account.email
        )
    })
}

/// `accounts list`.
async fn list(ctx: &Ctx, a: ListArgs) -> Result<(), CliError> {
    let identity = ctx.connect().await?.identity();
    let accounts = pages(a.limit, |page_token, page_size| {
        let mut identity = identity.clone();
        let req = ipb::ListAccountsRequest {
            page_size,
            page_token,
        };
        async move {
            let r = answer(identity.list_accounts(req).await)?;
            Ok((r.accounts, r.next_page_token))
        }
    })
    .await?;
    emit_list(
        ctx.format,
        &accounts,
        crate::json::message,
        views::ACCOUNT_COLUMNS,
        views::account_row,
        "account",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_are_named_with_or_without_their_prefix() {
        assert_eq!(account_name("me"), "accounts/me");
        assert_eq!(account_name("accounts/abc"), "accounts/abc");
        assert_eq!(account_name(" abc "), "accounts/abc");
    }
}
