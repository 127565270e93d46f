//! The territory admin's accounts and invitations: every account with its
//! role and status, disabling one, and inviting a site manager, a
//! structure's staff or another admin (the link is emailed; it is also
//! shown once here, for a platform run without a mail server).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use reemploi_proto::identity::{self as idpb, Account, AccountRole, AccountStatus, Invitation};

use super::{form_errors, id_of, require};
use crate::WebState;
use crate::backend::bearer;
use crate::error::{WebError, redirect};
use crate::form::Fields;
use crate::format;
use crate::session::{Auth, Role, Session};
use crate::text::T;
use crate::view::{self, Errors};

/// Accounts listed at most.
const MAX_ACCOUNTS: i32 = 1000;
/// The roles an invitation may give, by their form value.
const INVITABLE: [(&str, AccountRole); 3] = [
    ("site_manager", AccountRole::SiteManager),
    ("partner", AccountRole::Partner),
    ("admin", AccountRole::Admin),
];

/// GET `/comptes`.
pub async fn accounts(
    State(state): State<WebState>,
    Auth(session): Auth,
) -> Result<Response, WebError> {
    require(&session, &[Role::Admin])?;
    page(&state, &session, &Fields::default(), &Errors::default())
        .await
        .map(IntoResponse::into_response)
}

async fn page(
    state: &WebState,
    session: &Session,
    form: &Fields,
    errors: &Errors,
) -> Result<Markup, WebError> {
    let request = idpb::ListAccountsRequest {
        page_size: MAX_ACCOUNTS,
        page_token: String::new(),
    };
    let accounts = state
        .backend()
        .identity()
        .list_accounts(bearer(&session.access_token, request)?)
        .await?
        .into_inner()
        .accounts;
    let body = html! {
        (invite_form(&session.csrf, form, errors))
        h2 { (T::ACCOUNTS_LIST) " " (T::count(accounts.len())) }
        div.table-wrap { table {
            thead { tr {
                th scope="col" { (T::COL_NAME) }
                th scope="col" { (T::COL_ROLE) }
                th scope="col" { (T::COL_ATTACHED) }
                th scope="col" { (T::COL_STATUS) }
                th scope="col" { (T::COL_ACTIONS) }
            } }
            tbody { @for account in &accounts { (row(account, session)) } }
        } }
    };
    Ok(view::page(T::ACCOUNTS_TITLE, Some(session), body))
}

fn row(account: &Account, session: &Session) -> Markup {
    let role = account.role();
    let active = account.status() == AccountStatus::Active;
    let myself = account.name == session.account.name;
    html! {
        tr {
            th scope="row" { (account.display_name) br; small { (account.email) } }
            td data-label=(T::COL_ROLE) { (T::account_role(role)) }
            td data-label=(T::COL_ATTACHED) {
                (account.org)
                @if !account.org.is_empty() && !account.partner.is_empty() { " · " }
                (id_of(&account.partner))
            }
            td data-label=(T::COL_STATUS) { (if active { T::ACCOUNT_ACTIVE } else { T::ACCOUNT_DISABLED }) }
            td data-label=(T::COL_ACTIONS) {
                @if active && !myself {
                    form method="post" action=(format!("/comptes/{}/desactiver", id_of(&account.name))) {
                        (view::csrf(&session.csrf))
                        button.secondary type="submit" aria-label=(format!("{} {}", T::DISABLE, account.email)) { (T::DISABLE) }
                    }
                }
            }
        }
    }
}

fn invite_form(csrf: &str, form: &Fields, errors: &Errors) -> Markup {
    let chosen = form.text("role");
    html! {
        section aria-labelledby="inviter" {
            h2 #inviter { (T::INVITE_TITLE) }
            p.hint { (T::INVITE_INTRO) }
            (errors.summary())
            form.stack method="post" action="/comptes/inviter" {
                (view::csrf(csrf))
                (view::input("email", T::EMAIL, "email", &form.text("email"), errors))
                div.field {
                    label for="role" { (T::COL_ROLE) }
                    select id="role" name="role" {
                        @for (value, role) in INVITABLE {
                            option value=(value) selected[chosen == value] { (T::account_role(role)) }
                        }
                    }
                }
                (view::field("org", T::INVITE_ORG, "text", &form.text("org"), Some(T::INVITE_ORG_HINT), errors))
                (view::field("partner", T::INVITE_PARTNER, "text", &form.text("partner"), Some(T::INVITE_PARTNER_HINT), errors))
                button type="submit" { (T::INVITE_BUTTON) }
            }
        }
    }
}

/// POST `/comptes/inviter`: creates the invitation (the identity service
/// emails its link) and shows the link once.
pub async fn invite(
    State(state): State<WebState>,
    Auth(session): Auth,
    body: Bytes,
) -> Result<Response, WebError> {
    let form = Fields::from_body(&body);
    session.check_csrf(form.csrf())?;
    require(&session, &[Role::Admin])?;
    let role = INVITABLE
        .iter()
        .find(|(value, _)| *value == form.text("role"))
        .map_or(AccountRole::Unspecified, |(_, role)| *role);
    let partner = match form.text("partner") {
        p if p.is_empty() || p.starts_with("partners/") => p,
        p => format!("partners/{p}"),
    };
    let request = idpb::CreateInvitationRequest {
        invitation: Some(Invitation {
            email: form.text("email"),
            role: role as i32,
            org: form.text("org"),
            partner,
            ..Default::default()
        }),
    };
    let answer = state
        .backend()
        .identity()
        .create_invitation(bearer(&session.access_token, request)?)
        .await;
    match answer {
        Ok(invitation) => Ok(invited(&session, &invitation.into_inner()).into_response()),
        Err(status) => match form_errors(&status, "email") {
            Some(errors) => Ok(view::refused(page(&state, &session, &form, &errors).await?)),
            None => Err(status.into()),
        },
    }
}

fn invited(session: &Session, invitation: &Invitation) -> Markup {
    let link = format!(
        "/invitation?{}",
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("code", &invitation.code)
            .finish()
    );
    let body = html! {
        p role="status" { (T::invited(&invitation.email, &format::datetime(invitation.expire_time.as_ref()))) }
        p { (T::INVITE_LINK) " " a href=(link) { (link) } }
        p { a href="/comptes" { (T::BACK_TO_ACCOUNTS) } }
    };
    view::page(T::INVITED_TITLE, Some(session), body)
}

/// POST `/comptes/{account}/desactiver`.
pub async fn disable(
    State(state): State<WebState>,
    Auth(session): Auth,
    Path(account): Path<String>,
    body: Bytes,
) -> Result<Response, WebError> {
    let form = Fields::from_body(&body);
    session.check_csrf(form.csrf())?;
    require(&session, &[Role::Admin])?;
    let request = idpb::DisableAccountRequest {
        name: format!("accounts/{account}"),
    };
    state
        .backend()
        .identity()
        .disable_account(bearer(&session.access_token, request)?)
        .await?;
    Ok(redirect("/comptes"))
}
