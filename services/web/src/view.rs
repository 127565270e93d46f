//! What every page shares: the layout (skip link, header saying who is
//! signed in, one h1), form pieces and the ledger bar.

use maud::{DOCTYPE, Markup, html};
use reemploi_proto::types::Quantity;

use crate::format;
use crate::session::{CSRF_FIELD, Role, Session};
use crate::text::T;

/// A page: its title (also its only h1), who is signed in, and its body.
pub fn page(title: &str, session: Option<&Session>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang=(T::LANG) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " — " (T::APP) }
                link rel="stylesheet" href="/static/app.css";
                script src="/static/app.js" defer {}
            }
            body {
                a.skip href="#contenu" { (T::SKIP) }
                (header(session))
                main #contenu tabindex="-1" {
                    h1 { (title) }
                    (body)
                }
                footer.site-footer { p { (T::FOOTER) } }
            }
        }
    }
}

fn header(session: Option<&Session>) -> Markup {
    html! {
        header.site-header {
            a.brand href="/" { (T::APP) }
            @match session {
                Some(s) => {
                    nav aria-label=(T::NAV) {
                        ul { (nav_links(s.account.role)) }
                    }
                    div.who {
                        p { (T::SIGNED_IN_AS) " " (T::who(&s.account.display_name, s.account.role)) }
                        form method="post" action="/deconnexion" {
                            (csrf(&s.csrf))
                            button.link type="submit" { (T::SIGN_OUT) }
                        }
                    }
                }
                None => {
                    nav aria-label=(T::NAV) {
                        ul {
                            li { a href="/connexion" { (T::SIGN_IN) } }
                            li { a href="/inscription" { (T::SIGN_UP_LINK) } }
                        }
                    }
                }
            }
        }
    }
}

fn nav_links(role: Role) -> Markup {
    html! {
        @match role {
            Role::Admin => {
                li { a href="/partenaires" { (T::NAV_PARTNERS) } }
                li { a href="/comptes" { (T::NAV_ACCOUNTS) } }
                li { a href="/chiffres" { (T::NAV_FIGURES) } }
            }
            Role::SiteManager => {
                li { a href="/chantiers" { (T::NAV_SITES) } }
                li { a href="/chiffres" { (T::NAV_FIGURES) } }
            }
            Role::Partner => {
                li { a href="/lots" { (T::NAV_LOTS) } }
                li { a href="/recommandations" { (T::NAV_RECOMMENDATIONS) } }
                li { a href="/mes-reservations" { (T::NAV_CLAIMS) } }
                li { a href="/structure" { (T::NAV_STRUCTURE) } }
            }
            Role::Integrator => {}
        }
        @if role != Role::Integrator {
            // The page script fills the badge with the unread count.
            li { a href="/notifications" { (T::NAV_NOTIFICATIONS) " " span.badge #non-lues hidden {} } }
        }
    }
}

/// The page of an error.
pub fn error_page(title: &str, text: &str) -> Markup {
    page(
        title,
        None,
        html! {
            p { (text) }
            p { a href="/" { (T::BACK_HOME) } }
        },
    )
}

/// A form shown again because what was sent was refused (400).
pub fn refused(page: Markup) -> axum::response::Response {
    use axum::response::IntoResponse;
    (axum::http::StatusCode::BAD_REQUEST, page).into_response()
}

/// The hidden CSRF field of a form.
pub fn csrf(token: &str) -> Markup {
    html! { input type="hidden" name=(CSRF_FIELD) value=(token); }
}

/// Errors of a form, keyed by field name; shown above it and beside each field.
#[derive(Debug, Clone, Default)]
pub struct Errors(pub Vec<(String, String)>);

impl Errors {
    /// The message of `field`, if any.
    pub fn of(&self, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(f, _)| f == field)
            .map(|(_, m)| m.as_str())
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The summary above the form, each message linking to its field.
    pub fn summary(&self) -> Markup {
        html! {
            @if !self.is_empty() {
                div.errors role="alert" {
                    p { (T::FORM_ERRORS) }
                    ul {
                        @for (field, message) in &self.0 {
                            li { a href=(format!("#{field}")) { (message) } }
                        }
                    }
                }
            }
        }
    }
}

/// A labelled input, with its hint and error tied to it for screen readers.
pub fn input(name: &str, label: &str, kind: &str, value: &str, errors: &Errors) -> Markup {
    field(name, label, kind, value, None, errors)
}

/// [`input`] with a hint under the label.
pub fn field(
    name: &str,
    label: &str,
    kind: &str,
    value: &str,
    hint: Option<&str>,
    errors: &Errors,
) -> Markup {
    let error = errors.of(name);
    let described = match (hint.is_some(), error.is_some()) {
        (true, true) => Some(format!("{name}-aide {name}-erreur")),
        (true, false) => Some(format!("{name}-aide")),
        (false, true) => Some(format!("{name}-erreur")),
        (false, false) => None,
    };
    html! {
        div.field {
            label for=(name) { (label) }
            @if let Some(hint) = hint { p.hint id=(format!("{name}-aide")) { (hint) } }
            @if let Some(error) = error { p.error id=(format!("{name}-erreur")) { (error) } }
            input id=(name) name=(name) type=(kind) value=(value)
                aria-describedby=[described] aria-invalid=[error.map(|_| "true")]
                autocomplete=[autocomplete(name)];
        }
    }
}

fn autocomplete(name: &str) -> Option<&'static str> {
    match name {
        "email" => Some("email"),
        "password" => Some("current-password"),
        "new_password" => Some("new-password"),
        "display_name" => Some("name"),
        "structure_name" | "legal_name" => Some("organization"),
        "postal_code" => Some("postal-code"),
        "line1" => Some("address-line1"),
        "phone" => Some("tel"),
        _ => None,
    }
}

/// A lot's ledger as a bar (available, reserved, handed over), with the
/// same figures in text. An SVG, so the widths need no style attribute.
pub fn ledger(
    total: Option<&Quantity>,
    available: Option<&Quantity>,
    reserved: Option<&Quantity>,
    handed_over: Option<&Quantity>,
) -> Markup {
    let milli = |q: Option<&Quantity>| q.map_or(0, |q| q.milli.max(0));
    let total_milli = milli(total).max(1);
    // Widths in thousandths of the bar; rounding never makes them overflow it.
    let part = |q: Option<&Quantity>| {
        i64::try_from(i128::from(milli(q)) * 1000 / i128::from(total_milli)).unwrap_or(0)
    };
    let (a, r) = (part(available), part(reserved));
    let h = (1000 - a - r).clamp(0, part(handed_over));
    let label = T::ledger(
        &format::quantity(available),
        &format::quantity(reserved),
        &format::quantity(handed_over),
    );
    html! {
        div.ledger {
            svg.bar viewBox="0 0 1000 20" preserveAspectRatio="none" role="img" aria-label=(label) {
                rect.available x="0" y="0" width=(a) height="20" {}
                rect.reserved x=(a) y="0" width=(r) height="20" {}
                rect.handed-over x=(a + r) y="0" width=(h) height="20" {}
            }
            p.legend {
                span.key.available { (format::quantity(available)) " " (T::LEDGER_AVAILABLE) }
                " · "
                span.key.reserved { (format::quantity(reserved)) " " (T::LEDGER_RESERVED) }
                " · "
                span.key.handed-over { (format::quantity(handed_over)) " " (T::LEDGER_HANDED_OVER) }
            }
        }
    }
}

/// Matches best first, each with its score, distance and the factors of
/// its score; `first` names the column of what each row is (a lot or a
/// structure) and `row_head` draws it.
pub fn score_table(
    caption: &str,
    first: &str,
    matches: &[reemploi_proto::matching::Match],
    row_head: impl Fn(&reemploi_proto::matching::Match) -> Markup,
) -> Markup {
    let factors = [
        T::SCORE_CATEGORY,
        T::SCORE_DISTANCE,
        T::SCORE_CAPACITY,
        T::SCORE_URGENCY,
        T::SCORE_INSERTION,
    ];
    html! {
        div.table-wrap { table {
            caption { (caption) }
            thead { tr {
                th scope="col" { (first) }
                th scope="col" { (T::COL_SCORE) }
                th scope="col" { (T::COL_DISTANCE) }
                @for factor in factors { th scope="col" { (factor) } }
            } }
            tbody { @for m in matches {
                @let b = m.breakdown.unwrap_or_default();
                @let values = [b.category_fit, b.distance, b.capacity, b.urgency, b.insertion];
                tr {
                    th scope="row" { (row_head(m)) }
                    td.score data-label=(T::COL_SCORE) { (format::percent(m.score)) }
                    // Whole metres: the cast to f64 is exact far beyond any distance on Earth.
                    td data-label=(T::COL_DISTANCE) { (format::km(m.distance_m as f64)) }
                    @for (factor, value) in factors.iter().zip(values) {
                        td data-label=(factor) { (format::percent(value)) }
                    }
                }
            } }
        } }
    }
}
