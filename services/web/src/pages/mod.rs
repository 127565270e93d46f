//! The pages, one module per audience; each handler checks the CSRF token
//! of a form before anything else, then makes its API calls with the
//! signed-in person's token.

pub mod access;
pub mod accounts;
pub mod admin;
pub mod assets;
pub mod auth;
pub mod declare;
pub mod figures;
pub mod home;
pub mod imports;
pub mod nearby;
pub mod notifications;
pub mod partner;
pub mod plan;
pub mod profile;
pub mod receipt;
pub mod recommend;
pub mod site_edit;
pub mod site_lot;
pub mod sites;
pub mod unsubscribe;

use std::collections::{HashMap, HashSet};
use std::hash::Hash;

use axum::http::{HeaderValue, header};
use axum::response::Response;
use futures::StreamExt;
use tonic::Code;

use crate::error::WebError;
use crate::session::{Role, Session};
use crate::text::T;
use crate::view::Errors;

/// Refuses a page meant for other roles.
fn require(session: &Session, roles: &[Role]) -> Result<(), WebError> {
    if roles.contains(&session.account.role) {
        Ok(())
    } else {
        Err(WebError::Forbidden)
    }
}

/// Adds `Set-Cookie` headers to a response.
fn with_cookies(mut response: Response, cookies: &[String]) -> Response {
    for cookie in cookies {
        if let Ok(value) = HeaderValue::from_str(cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

/// The errors a form shows for an API refusal it can explain: the
/// `BadRequest` field violations, each under the form field it concerns
/// (the last part of the API's field path), or the reason's French text.
/// `None` for a refusal the form cannot help with.
fn form_errors(status: &tonic::Status, fallback_field: &str) -> Option<Errors> {
    match status.code() {
        Code::InvalidArgument => {
            let violations = reemploi_runtime::status::field_violations(status);
            if violations.is_empty() {
                return Some(Errors(vec![(
                    fallback_field.to_owned(),
                    T::ERR_INVALID.to_owned(),
                )]));
            }
            Some(Errors(
                violations
                    .into_iter()
                    .map(|(path, description)| {
                        (
                            form_field(&path),
                            format!("{} : {description}", T::field(&path)),
                        )
                    })
                    .collect(),
            ))
        }
        Code::AlreadyExists | Code::FailedPrecondition | Code::Aborted => {
            let reason = reemploi_runtime::status::reason(status)?;
            let text = T::reason(&reason)?;
            Some(Errors(vec![(fallback_field.to_owned(), text.to_owned())]))
        }
        _ => None,
    }
}

/// The answer to a form the API has judged: `done` with its reply; the
/// form again (`again`, with 400) with the messages of a refusal it can
/// explain, under `fallback_field` when no field is named; else the API's
/// error page.
fn judged<T>(
    answer: Result<tonic::Response<T>, tonic::Status>,
    fallback_field: &str,
    done: impl FnOnce(T) -> Result<Response, WebError>,
    again: impl FnOnce(&Errors) -> maud::Markup,
) -> Result<Response, WebError> {
    match answer {
        Ok(reply) => done(reply.into_inner()),
        Err(status) => match form_errors(&status, fallback_field) {
            Some(errors) => Ok(crate::view::refused(again(&errors))),
            None => Err(status.into()),
        },
    }
}

/// The form field an API field path concerns: `partner.address.commune` is
/// `commune`, `accepted_categories[2]` is `accepted_categories`.
fn form_field(path: &str) -> String {
    let last = path.rsplit('.').next().unwrap_or(path);
    let last = last.split('[').next().unwrap_or(last);
    match last {
        "location" => "latitude".to_owned(),
        "milli" | "unit" => "quantity".to_owned(),
        "works_start_time" => "works_start".to_owned(),
        "works_end_time" => "works_end".to_owned(),
        "pickup_window" | "start_time" => "pickup_from".to_owned(),
        "end_time" => "pickup_until".to_owned(),
        "mass_g" => "mass_kg".to_owned(),
        "minutes" => "hours".to_owned(),
        other => other.to_owned(),
    }
}

/// API calls [`fetch_all`] has in flight at once.
const FETCHES_AT_ONCE: usize = 16;

/// What `fetch` gives for each of `keys` (each asked once), at most
/// [`FETCHES_AT_ONCE`] at a time; a key it gives nothing for (a resource
/// that cannot be read) is left out.
async fn fetch_all<K, V, F, Fut>(keys: impl IntoIterator<Item = K>, mut fetch: F) -> HashMap<K, V>
where
    K: Eq + Hash + Clone,
    F: FnMut(K) -> Fut,
    Fut: Future<Output = Option<V>>,
{
    let keys: HashSet<K> = keys.into_iter().collect();
    futures::stream::iter(keys)
        .map(|key| {
            let value = fetch(key.clone());
            async move { value.await.map(|v| (key, v)) }
        })
        .buffer_unordered(FETCHES_AT_ONCE)
        .filter_map(std::future::ready)
        .collect()
        .await
}

/// The last part of a resource name: `partners/abc` is `abc`.
fn id_of(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_paths_map_to_form_fields() {
        assert_eq!(form_field("partner.address.commune"), "commune");
        assert_eq!(
            form_field("partner.accepted_categories[2]"),
            "accepted_categories"
        );
        assert_eq!(form_field("quantity.milli"), "quantity");
        assert_eq!(form_field("password"), "password");
        assert_eq!(id_of("sites/a/lots/b"), "b");
    }

    #[tokio::test]
    async fn fetch_all_asks_each_key_once_a_few_at_a_time_and_drops_failures() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let (asked, running, most) = (
            AtomicUsize::new(0),
            AtomicUsize::new(0),
            AtomicUsize::new(0),
        );
        let keys = (0..200).chain(0..200);
        let found = fetch_all(keys, |k: u32| {
            let (asked, running, most) = (&asked, &running, &most);
            async move {
                asked.fetch_add(1, Ordering::SeqCst);
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                tokio::task::yield_now().await;
                running.fetch_sub(1, Ordering::SeqCst);
                (!k.is_multiple_of(10)).then_some(k * 2)
            }
        })
        .await;
        assert_eq!(asked.load(Ordering::SeqCst), 200);
        assert!(most.load(Ordering::SeqCst) <= FETCHES_AT_ONCE);
        assert!(most.load(Ordering::SeqCst) > 1, "fetched concurrently");
        assert_eq!(found.len(), 180);
        assert_eq!(found.get(&7), Some(&14));
        assert_eq!(found.get(&10), None);
    }
}
