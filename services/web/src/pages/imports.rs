//! Imports by upload, previewed before anything is saved: a site's PEMD
//! diagnostic as draft lots (site managers), an SIAE directory export as
//! partners (the territory admin). The file is read with reemploi-import
//! and every row shown, good or refused, on its line; the preview's form
//! carries the file itself back (base64), so the web app keeps nothing
//! between the two requests, and the batch's request id is a digest of the
//! file: a second submit of the same file creates nothing more.

use axum::body::Bytes;
use axum::extract::multipart::{Multipart, MultipartError, MultipartRejection};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use maud::{Markup, html};
use reemploi_import::lots::LotRow;
use reemploi_import::sheet::{self, Row, Sheet};
use reemploi_import::{BadRow, ImportError, MAX_BATCH, Parsed, Reason, partners};
use reemploi_proto::inventory as ipb;
use reemploi_proto::registry as rpb;
use sha2::{Digest, Sha256};
use tonic::Code;

use super::require;
use super::sites::category_label;
use crate::WebState;
use crate::backend::bearer;
use crate::error::{WebError, redirect};
use crate::form::Fields;
use crate::format;
use crate::session::{Auth, CSRF_FIELD, Role, Session};
use crate::text::T;
use crate::view::{self, Errors, csrf};

/// The largest file an import takes, in bytes.
pub const MAX_FILE: usize = 5 * 1024 * 1024;
/// Room in a request body for a form's other fields.
const FORM_ROOM: usize = 64 * 1024;
/// The body limit of an upload: a file up to twice too large is still read
/// to its end (and refused), so that the browser, which sends it all before
/// it reads the answer, gets the message rather than a cut connection.
pub const UPLOAD_LIMIT: usize = 2 * MAX_FILE + FORM_ROOM;
/// The body limit of a confirmation, which carries the file in base64.
pub const CONFIRM_LIMIT: usize = MAX_FILE.div_ceil(3) * 4 + FORM_ROOM;
/// The file input, and the field that carries the file back.
const FILE_FIELD: &str = "fichier";
/// The field that carries the file's name back.
const NAME_FIELD: &str = "nom";
/// The directory's default radius.
const RADIUS_FIELD: &str = "rayon";
/// What the file input offers to choose.
const ACCEPT: &str = ".csv,.xlsx,.xls,.ods";
/// Who imports a diagnostic.
const SITE_ROLES: &[Role] = &[Role::SiteManager, Role::Admin];

/// A file to import: its name, whose extension says how to read it, and
/// its bytes.
struct File {
    name: String,
    bytes: Vec<u8>,
}

impl File {
    /// The file a confirmation carries back.
    fn carried(form: &Fields) -> Result<File, WebError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(form.get(FILE_FIELD).unwrap_or_default())
            .map_err(|_| WebError::BadRequest("the file carried back is not base64url".into()))?;
        Ok(File {
            name: form.text(NAME_FIELD),
            bytes,
        })
    }

    /// The idempotency key of importing this file into `scope` (the site,
    /// or the directory with its options): hex SHA-256 of both.
    fn request_id(&self, scope: &str) -> String {
        let mut digest = Sha256::new();
        digest.update(scope.as_bytes());
        digest.update([0]);
        digest.update(&self.bytes);
        digest
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// What an upload form sent: its text fields, and the file when one was
/// chosen.
struct Upload {
    fields: Vec<(String, String)>,
    file: Option<File>,
}

impl Upload {
    fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
    }
}

/// Why an upload could not be read.
#[derive(Debug, Clone, Copy)]
enum Unreceived {
    /// Over [`MAX_FILE`].
    TooLarge,
    /// Cut short, or not a multipart form.
    Broken,
}

impl Unreceived {
    fn of(e: &MultipartError) -> Unreceived {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Unreceived::TooLarge
        } else {
            Unreceived::Broken
        }
    }

    /// The form again, with why.
    fn answer(self) -> (StatusCode, &'static str) {
        match self {
            Unreceived::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, T::IMPORT_TOO_LARGE),
            Unreceived::Broken => (StatusCode::BAD_REQUEST, T::IMPORT_UPLOAD_FAILED),
        }
    }
}

/// Reads an upload form, the file at most [`MAX_FILE`] bytes.
async fn receive(multipart: Result<Multipart, MultipartRejection>) -> Result<Upload, Unreceived> {
    let mut multipart = multipart.map_err(|_| Unreceived::Broken)?;
    let mut upload = Upload {
        fields: Vec::new(),
        file: None,
    };
    while let Some(mut field) = multipart
        .next_field()
        .await
        .map_err(|e| Unreceived::of(&e))?
    {
        let name = field.name().unwrap_or_default().to_owned();
        if name != FILE_FIELD {
            let value = field.text().await.map_err(|e| Unreceived::of(&e))?;
            upload.fields.push((name, value));
            continue;
        }
        let file_name = field.file_name().unwrap_or_default().to_owned();
        let mut bytes = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(|e| Unreceived::of(&e))? {
            if bytes.len() + chunk.len() > MAX_FILE {
                // Read the rest (within the body limit), so that the browser,
                // still sending, gets the answer.
                while let Ok(Some(_)) = field.chunk().await {}
                return Err(Unreceived::TooLarge);
            }
            bytes.extend_from_slice(&chunk);
        }
        // A form sent without a file chosen has an empty, unnamed part.
        if !file_name.is_empty() || !bytes.is_empty() {
            upload.file = Some(File {
                name: file_name,
                bytes,
            });
        }
    }
    Ok(upload)
}

/// What one kind of import reads, shows and sends.
trait Kind {
    /// A row that passed the checks.
    type Row;
    /// The page's introduction.
    const INTRO: &'static str;
    /// The field within a batch's requests that holds a row, as the API's
    /// violations name it.
    const INNER: &'static str;

    /// Reads every row of a sheet; the headers nobody reads.
    fn parse(&self, sheet: &Sheet) -> Result<(Parsed<Self::Row>, Vec<String>), ImportError>;
    /// The headings of the columns after the line's, the result's last.
    fn headings(&self) -> &'static [&'static str];
    /// The cells of a good row after its line, its result last.
    fn cells(&self, row: &Self::Row) -> Markup;
    /// Whether a good row is marked (a lot never publishable).
    fn marked(&self, row: &Self::Row) -> bool;
    /// What the rows come to, above the table.
    fn summary(&self, parsed: &Parsed<Self::Row>) -> String;
    /// The confirm button's text, for `n` rows.
    fn confirm_label(&self, n: usize) -> String;
    /// The form's fields besides the file (none, or the default radius).
    fn options(&self, errors: &Errors) -> Markup;
    /// The same as hidden fields of the confirmation.
    fn hidden_options(&self) -> Markup;
    /// Whether the API's message on a conflict names this row.
    fn named_in(&self, _row: &Self::Row, _message: &str) -> bool {
        false
    }
}

/// A PEMD diagnostic, as lots.
struct Diagnostic;

impl Kind for Diagnostic {
    type Row = LotRow;
    const INTRO: &'static str = T::IMPORT_DIAGNOSTIC_INTRO;
    const INNER: &'static str = "lot";

    fn parse(&self, sheet: &Sheet) -> Result<(Parsed<LotRow>, Vec<String>), ImportError> {
        reemploi_import::lots::parse(sheet, || {})
    }

    fn headings(&self) -> &'static [&'static str] {
        &[
            T::COL_REFERENCE,
            T::COL_DESIGNATION,
            T::CATEGORY,
            T::QUANTITY,
            T::COL_MASS,
            T::COL_HAZARDS,
            T::COL_RESULT,
        ]
    }

    fn cells(&self, row: &LotRow) -> Markup {
        let lot = &row.lot;
        let hazards: Vec<&str> = lot
            .hazards
            .iter()
            .map(|h| T::lot_hazard(ipb::Hazard::try_from(*h).unwrap_or(ipb::Hazard::Unspecified)))
            .collect();
        html! {
            td data-label=(T::COL_REFERENCE) { (or_dash(&lot.reference)) }
            td data-label=(T::COL_DESIGNATION) { (lot.designation) }
            td data-label=(T::CATEGORY) { (category_label(&lot.category)) }
            td data-label=(T::QUANTITY) { (format::quantity(lot.quantity.as_ref())) }
            td data-label=(T::COL_MASS) {
                @if lot.estimated_mass_g > 0 { (format::mass(lot.estimated_mass_g)) } @else { "—" }
            }
            td data-label=(T::COL_HAZARDS) {
                @if hazards.is_empty() { (T::IMPORT_NO_HAZARD) } @else { (hazards.join(", ")) }
            }
            td data-label=(T::COL_RESULT) {
                @match &row.hazardous {
                    Some(why) => { strong.warning { (T::import_hazardous(why)) } },
                    None => { (T::IMPORT_READY_LOT) },
                }
            }
        }
    }

    fn marked(&self, row: &LotRow) -> bool {
        row.hazardous.is_some()
    }

    fn summary(&self, parsed: &Parsed<LotRow>) -> String {
        let hazardous = parsed
            .good
            .iter()
            .filter(|(_, r)| r.hazardous.is_some())
            .count();
        T::import_lots_summary(parsed.good.len(), hazardous, parsed.bad.len())
    }

    fn confirm_label(&self, n: usize) -> String {
        T::import_create_lots(n)
    }

    fn options(&self, _: &Errors) -> Markup {
        html! {}
    }

    fn hidden_options(&self) -> Markup {
        html! {}
    }
}

/// An SIAE directory export, as partners.
struct Directory {
    /// The service radius of rows without one, in km.
    radius_km: i32,
}

impl Directory {
    /// The directory import with the radius a form gives (the default when
    /// it gives none); `None` when it is not a whole number of 1 to 200.
    fn from_field(value: Option<&str>) -> Option<Directory> {
        let radius_km = match value.filter(|v| !v.is_empty()) {
            None => partners::DEFAULT_RADIUS_KM,
            Some(v) => v.parse().ok().filter(|km| (1..=200).contains(km))?,
        };
        Some(Directory { radius_km })
    }
}

impl Kind for Directory {
    type Row = rpb::Partner;
    const INTRO: &'static str = T::IMPORT_DIRECTORY_INTRO;
    const INNER: &'static str = "partner";

    fn parse(&self, sheet: &Sheet) -> Result<(Parsed<rpb::Partner>, Vec<String>), ImportError> {
        partners::parse(sheet, self.radius_km, || {})
    }

    fn headings(&self) -> &'static [&'static str] {
        &[
            T::COL_NAME,
            T::COL_SIRET,
            T::COL_KINDS,
            T::COL_COMMUNE,
            T::COL_RADIUS,
            T::COL_CATEGORIES,
            T::COL_RESULT,
        ]
    }

    fn cells(&self, p: &rpb::Partner) -> Markup {
        let kinds: Vec<&str> = p
            .kinds
            .iter()
            .map(|k| {
                T::partner_kind(
                    rpb::PartnerKind::try_from(*k).unwrap_or(rpb::PartnerKind::Unspecified),
                )
            })
            .collect();
        let categories: Vec<String> = p
            .accepted_categories
            .iter()
            .map(|c| category_label(c))
            .collect();
        let commune = p.address.as_ref().map_or("", |a| a.commune.as_str());
        html! {
            td data-label=(T::COL_NAME) { (p.legal_name) }
            td data-label=(T::COL_SIRET) { (p.siret) }
            td data-label=(T::COL_KINDS) { (kinds.join(", ")) }
            td data-label=(T::COL_COMMUNE) { (or_dash(commune)) }
            td data-label=(T::COL_RADIUS) { (p.service_radius_km) " km" }
            td data-label=(T::COL_CATEGORIES) { (or_dash(&categories.join(", "))) }
            td data-label=(T::COL_RESULT) { (T::IMPORT_READY_PARTNER) }
        }
    }

    fn marked(&self, _: &rpb::Partner) -> bool {
        false
    }

    fn summary(&self, parsed: &Parsed<rpb::Partner>) -> String {
        T::import_partners_summary(parsed.good.len(), parsed.bad.len())
    }

    fn confirm_label(&self, n: usize) -> String {
        T::import_create_partners(n)
    }

    fn options(&self, errors: &Errors) -> Markup {
        view::field(
            RADIUS_FIELD,
            T::IMPORT_RADIUS,
            "number",
            &self.radius_km.to_string(),
            Some(T::IMPORT_RADIUS_HINT),
            errors,
        )
    }

    fn hidden_options(&self) -> Markup {
        html! { input type="hidden" name=(RADIUS_FIELD) value=(self.radius_km); }
    }

    fn named_in(&self, p: &rpb::Partner, message: &str) -> bool {
        !p.siret.is_empty() && message.contains(&p.siret)
    }
}

fn or_dash(text: &str) -> &str {
    if text.is_empty() { "—" } else { text }
}

/// A file read for an import, and what the API refused of it.
struct Preview<R> {
    file: File,
    sheet: Sheet,
    parsed: Parsed<R>,
    unused: Vec<String>,
    /// The rows the API refused, on their lines.
    refused: Vec<BadRow>,
    /// The API's refusals that name no row.
    other: Vec<String>,
}

impl<R> Preview<R> {
    /// Reads and checks every row of `file`.
    fn read<K: Kind<Row = R>>(kind: &K, file: File) -> Result<Preview<R>, ImportError> {
        let sheet = sheet::read_bytes(&file.name, file.bytes.clone())?;
        let (parsed, unused) = kind.parse(&sheet)?;
        Ok(Preview {
            file,
            sheet,
            parsed,
            unused,
            refused: Vec::new(),
            other: Vec::new(),
        })
    }

    /// Whether the good rows can be sent: some, not too many, none refused.
    fn sendable(&self) -> bool {
        let n = self.parsed.good.len();
        n > 0 && n <= MAX_BATCH && self.refused.is_empty() && self.other.is_empty()
    }

    /// Takes in the API's refusal of the batch: its field violations on the
    /// lines of the rows they name, a conflict on the rows its message
    /// names; an error it cannot explain is the error page's.
    fn refuse<K: Kind<Row = R>>(
        &mut self,
        kind: &K,
        status: tonic::Status,
    ) -> Result<(), WebError> {
        let lines: Vec<u64> = self.parsed.good.iter().map(|(line, _)| *line).collect();
        if status.code() == Code::InvalidArgument {
            let violations = reemploi_runtime::status::field_violations(&status);
            let (rows, other) = reemploi_import::violations_to_rows(&violations, &lines, K::INNER);
            if rows.is_empty() && other.is_empty() {
                self.other.push(T::ERR_INVALID.to_owned());
            }
            self.refused = rows;
            self.other.extend(other);
            return Ok(());
        }
        let Some(text) = reemploi_runtime::status::reason(&status).and_then(|r| T::reason(&r))
        else {
            return Err(status.into());
        };
        self.other.push(text.to_owned());
        for (line, row) in &self.parsed.good {
            if kind.named_in(row, status.message()) {
                self.refused.push(BadRow {
                    line: *line,
                    reasons: vec![Reason::Refused {
                        field: String::new(),
                        description: text.to_owned(),
                    }],
                });
            }
        }
        Ok(())
    }
}

/// Where an import's pages are.
struct Place {
    /// The upload form (GET) and its preview (POST).
    upload: String,
    /// The confirmation.
    confirm: String,
    /// Where to go back to, and its link's text.
    back: (String, &'static str),
}

impl Place {
    fn site(site: &str) -> Place {
        Place {
            upload: format!("/chantiers/{site}/diagnostic"),
            confirm: format!("/chantiers/{site}/diagnostic/creer"),
            back: (format!("/chantiers/{site}"), T::IMPORT_BACK_TO_SITE),
        }
    }

    fn directory() -> Place {
        Place {
            upload: "/partenaires/import".to_owned(),
            confirm: "/partenaires/import/creer".to_owned(),
            back: ("/partenaires".to_owned(), T::IMPORT_BACK_TO_PARTNERS),
        }
    }
}

/// The pages of one import for one person.
struct Pages<'a> {
    title: String,
    session: &'a Session,
    place: Place,
}

impl Pages<'_> {
    /// The upload form, with `errors`.
    fn form<K: Kind>(&self, kind: &K, errors: &Errors, status: StatusCode) -> Response {
        let described = match errors.of(FILE_FIELD) {
            Some(_) => "fichier-aide fichier-erreur",
            None => "fichier-aide",
        };
        let body = html! {
            p { (K::INTRO) }
            p { (T::IMPORT_NOTHING_SAVED) }
            (errors.summary())
            form.stack method="post" action=(self.place.upload) enctype="multipart/form-data" {
                (csrf(&self.session.csrf))
                div.field {
                    label for=(FILE_FIELD) { (T::IMPORT_FILE) }
                    p.hint id="fichier-aide" { (T::IMPORT_FILE_HINT) }
                    @if let Some(error) = errors.of(FILE_FIELD) { p.error id="fichier-erreur" { (error) } }
                    input id=(FILE_FIELD) name=(FILE_FIELD) type="file" accept=(ACCEPT) required
                        aria-describedby=(described) aria-invalid=[errors.of(FILE_FIELD).map(|_| "true")];
                }
                (kind.options(errors))
                button type="submit" { (T::IMPORT_PREVIEW_BUTTON) }
            }
            p { a href=(self.place.back.0) { (self.place.back.1) } }
        };
        (status, view::page(&self.title, Some(self.session), body)).into_response()
    }

    /// The form again, with one message under `field`.
    fn form_error<K: Kind>(
        &self,
        kind: &K,
        field: &str,
        message: String,
        status: StatusCode,
    ) -> Response {
        self.form(kind, &Errors(vec![(field.to_owned(), message)]), status)
    }

    /// The preview of an uploaded file, or the form again with why there
    /// is none.
    fn upload<K: Kind>(&self, kind: &K, file: Option<File>) -> Response {
        let Some(file) = file else {
            return self.form_error(
                kind,
                FILE_FIELD,
                T::IMPORT_NO_FILE.to_owned(),
                StatusCode::BAD_REQUEST,
            );
        };
        match Preview::read(kind, file) {
            Ok(preview) => self.preview(kind, &preview, StatusCode::OK),
            Err(e) => self.form_error(
                kind,
                FILE_FIELD,
                T::import_error(&e),
                StatusCode::BAD_REQUEST,
            ),
        }
    }

    /// Every row of the file, what becomes of it, and the confirmation.
    fn preview<K: Kind>(
        &self,
        kind: &K,
        preview: &Preview<K::Row>,
        status: StatusCode,
    ) -> Response {
        let refused = !preview.refused.is_empty() || !preview.other.is_empty();
        let body = html! {
            p role="status" { (kind.summary(&preview.parsed)) }
            @if !preview.unused.is_empty() { p.hint { (T::import_unused(&preview.unused)) } }
            @if refused {
                div.errors role="alert" {
                    p { (T::IMPORT_API_REFUSED) }
                    ul {
                        @for other in &preview.other { li { (other) } }
                        @for row in &preview.refused { li { (T::COL_LINE) " " (row.line) " : " (reasons(row)) } }
                    }
                }
            }
            (table(kind, preview))
            (self.confirmation(kind, preview))
            p { a href=(self.place.upload) { (T::IMPORT_ANOTHER) } " · " a href=(self.place.back.0) { (self.place.back.1) } }
        };
        (status, view::page(&self.title, Some(self.session), body)).into_response()
    }

    /// The form that sends the good rows, or why there is none.
    fn confirmation<K: Kind>(&self, kind: &K, preview: &Preview<K::Row>) -> Markup {
        let n = preview.parsed.good.len();
        html! {
            @if n == 0 {
                p.warning { (T::IMPORT_NOTHING_TO_CREATE) }
            } @else if n > MAX_BATCH {
                p.warning { (T::import_too_many(n, MAX_BATCH)) }
            } @else if preview.sendable() {
                @if !preview.parsed.bad.is_empty() { p { (T::IMPORT_BAD_ROWS_LEFT_OUT) } }
                form method="post" action=(self.place.confirm) {
                    (csrf(&self.session.csrf))
                    input type="hidden" name=(NAME_FIELD) value=(preview.file.name);
                    input type="hidden" name=(FILE_FIELD) value=(URL_SAFE_NO_PAD.encode(&preview.file.bytes));
                    (kind.hidden_options())
                    button type="submit" { (kind.confirm_label(n)) }
                }
            }
        }
    }
}

/// Every reason of a refused row, in French where the reason is ours.
fn reasons(row: &BadRow) -> String {
    row.reasons
        .iter()
        .map(T::import_reason)
        .collect::<Vec<_>>()
        .join(" ; ")
}

/// The table of every row of the file, in file order.
fn table<K: Kind>(kind: &K, preview: &Preview<K::Row>) -> Markup {
    let headings = kind.headings();
    html! {
        div.table-wrap {
            table.import {
                caption { (T::import_caption(&preview.file.name)) }
                thead { tr {
                    th scope="col" { (T::COL_LINE) }
                    @for heading in headings { th scope="col" { (heading) } }
                } }
                tbody {
                    @for row in &preview.sheet.rows { (table_row(kind, preview, row, headings.len())) }
                }
            }
        }
    }
}

/// One row of the file: its cells when it is good, what it holds and why
/// it is refused otherwise.
fn table_row<K: Kind>(kind: &K, preview: &Preview<K::Row>, row: &Row, columns: usize) -> Markup {
    let by_line = |bad: &[BadRow]| bad.iter().find(|b| b.line == row.line).cloned();
    let refused = by_line(&preview.refused).or_else(|| by_line(&preview.parsed.bad));
    let good = preview
        .parsed
        .good
        .iter()
        .find(|(line, _)| *line == row.line);
    html! {
        @match (refused, good) {
            (Some(bad), _) => {
                tr.refused {
                    th scope="row" data-label=(T::COL_LINE) { (row.line) }
                    td colspan=(columns.saturating_sub(1)) data-label=(T::COL_CONTENT) { (content(row)) }
                    td data-label=(T::COL_RESULT) {
                        strong.warning { (T::IMPORT_REFUSED) }
                        ul { @for reason in &bad.reasons { li { (T::import_reason(reason)) } } }
                    }
                }
            },
            (None, Some((_, good))) => {
                tr class=[kind.marked(good).then_some("hazardous")] {
                    th scope="row" data-label=(T::COL_LINE) { (row.line) }
                    (kind.cells(good))
                }
            },
            (None, None) => {},
        }
    }
}

/// What a row holds, its cells that are not empty.
fn content(row: &Row) -> String {
    row.cells
        .iter()
        .filter(|c| !c.is_empty())
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(" · ")
}

/// The pages of a site's diagnostic import, titled with the site's name
/// (which the API shows to those who may see the site only).
async fn site_pages<'a>(
    state: &WebState,
    session: &'a Session,
    site: &str,
) -> Result<Pages<'a>, WebError> {
    let answer = state
        .backend()
        .inventory()
        .get_site(bearer(
            &session.access_token,
            ipb::GetSiteRequest {
                name: format!("sites/{site}"),
            },
        )?)
        .await?
        .into_inner();
    Ok(Pages {
        title: T::import_diagnostic_title(&answer.display_name),
        session,
        place: Place::site(site),
    })
}

/// GET `/chantiers/{site}/diagnostic`: the upload form.
pub async fn diagnostic_form(
    State(state): State<WebState>,
    Auth(session): Auth,
    Path(site): Path<String>,
) -> Result<Response, WebError> {
    require(&session, SITE_ROLES)?;
    let pages = site_pages(&state, &session, &site).await?;
    Ok(pages.form(&Diagnostic, &Errors::default(), StatusCode::OK))
}

/// POST `/chantiers/{site}/diagnostic`: the preview of the file uploaded.
pub async fn diagnostic_preview(
    State(state): State<WebState>,
    Auth(session): Auth,
    Path(site): Path<String>,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, WebError> {
    let received = receive(multipart).await;
    if let Ok(upload) = &received {
        session.check_csrf(upload.get(CSRF_FIELD))?;
    }
    require(&session, SITE_ROLES)?;
    let pages = site_pages(&state, &session, &site).await?;
    match received {
        Ok(upload) => Ok(pages.upload(&Diagnostic, upload.file)),
        Err(unreceived) => {
            let (status, message) = unreceived.answer();
            Ok(pages.form_error(&Diagnostic, FILE_FIELD, message.to_owned(), status))
        }
    }
}

/// POST `/chantiers/{site}/diagnostic/creer`: the good rows of the file
/// carried back, created as drafts in one batch; back to the site.
pub async fn diagnostic_create(
    State(state): State<WebState>,
    Auth(session): Auth,
    Path(site): Path<String>,
    body: Bytes,
) -> Result<Response, WebError> {
    let form = Fields::from_body(&body);
    session.check_csrf(form.csrf())?;
    require(&session, SITE_ROLES)?;
    let parent = format!("sites/{site}");
    let mut preview = Preview::read(&Diagnostic, File::carried(&form)?)
        .map_err(|e| WebError::BadRequest(format!("the file carried back: {e}")))?;
    if preview.sendable() {
        let request = ipb::BatchCreateLotsRequest {
            parent: parent.clone(),
            requests: preview
                .parsed
                .good
                .iter()
                .map(|(_, row)| ipb::CreateLotRequest {
                    parent: parent.clone(),
                    lot: Some(row.lot.clone()),
                    request_id: String::new(),
                })
                .collect(),
            request_id: preview.file.request_id(&parent),
        };
        let answer = state
            .backend()
            .inventory()
            .batch_create_lots(bearer(&session.access_token, request)?)
            .await;
        match answer {
            Ok(_) => return Ok(redirect(&format!("/chantiers/{site}"))),
            Err(status) => preview.refuse(&Diagnostic, status)?,
        }
    }
    let pages = site_pages(&state, &session, &site).await?;
    Ok(pages.preview(&Diagnostic, &preview, StatusCode::BAD_REQUEST))
}

/// The pages of the directory import.
fn directory_pages(session: &Session) -> Pages<'_> {
    Pages {
        title: T::IMPORT_DIRECTORY_TITLE.to_owned(),
        session,
        place: Place::directory(),
    }
}

/// GET `/partenaires/import`: the upload form.
pub async fn directory_form(Auth(session): Auth) -> Result<Response, WebError> {
    require(&session, &[Role::Admin])?;
    let kind = Directory {
        radius_km: partners::DEFAULT_RADIUS_KM,
    };
    Ok(directory_pages(&session).form(&kind, &Errors::default(), StatusCode::OK))
}

/// POST `/partenaires/import`: the preview of the file uploaded.
pub async fn directory_preview(
    Auth(session): Auth,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, WebError> {
    let received = receive(multipart).await;
    if let Ok(upload) = &received {
        session.check_csrf(upload.get(CSRF_FIELD))?;
    }
    require(&session, &[Role::Admin])?;
    let pages = directory_pages(&session);
    let default = Directory {
        radius_km: partners::DEFAULT_RADIUS_KM,
    };
    let upload = match received {
        Ok(upload) => upload,
        Err(unreceived) => {
            let (status, message) = unreceived.answer();
            return Ok(pages.form_error(&default, FILE_FIELD, message.to_owned(), status));
        }
    };
    match Directory::from_field(upload.get(RADIUS_FIELD)) {
        Some(kind) => Ok(pages.upload(&kind, upload.file)),
        None => Ok(pages.form_error(
            &default,
            RADIUS_FIELD,
            T::IMPORT_BAD_RADIUS.to_owned(),
            StatusCode::BAD_REQUEST,
        )),
    }
}

/// POST `/partenaires/import/creer`: the good rows of the file carried
/// back, registered in one batch (pending verification); back to the
/// partners.
pub async fn directory_create(
    State(state): State<WebState>,
    Auth(session): Auth,
    body: Bytes,
) -> Result<Response, WebError> {
    let form = Fields::from_body(&body);
    session.check_csrf(form.csrf())?;
    require(&session, &[Role::Admin])?;
    let kind = Directory::from_field(form.get(RADIUS_FIELD))
        .ok_or_else(|| WebError::BadRequest("a default radius out of range".into()))?;
    let mut preview = Preview::read(&kind, File::carried(&form)?)
        .map_err(|e| WebError::BadRequest(format!("the file carried back: {e}")))?;
    if preview.sendable() {
        let request = rpb::BatchRegisterPartnersRequest {
            requests: preview
                .parsed
                .good
                .iter()
                .map(|(_, partner)| rpb::RegisterPartnerRequest {
                    partner: Some(partner.clone()),
                    request_id: String::new(),
                })
                .collect(),
            request_id: preview
                .file
                .request_id(&format!("partners radius {}", kind.radius_km)),
        };
        let answer = state
            .backend()
            .registry()
            .batch_register_partners(bearer(&session.access_token, request)?)
            .await;
        match answer {
            Ok(_) => return Ok(redirect("/partenaires")),
            Err(status) => preview.refuse(&kind, status)?,
        }
    }
    Ok(directory_pages(&session).preview(&kind, &preview, StatusCode::BAD_REQUEST))
}
