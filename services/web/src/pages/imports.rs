//! Imports by upload, previewed before anything is saved: a site's PEMD
//! diagnostic as draft lots (site managers), an SIAE directory export as
//! partners (the territory admin). The file is read with reemploi-import
//! and every row shown, good or refused, on its line; the preview's form
//! carries the file itself back (base64), so the web app keeps nothing
//! between the two requests, and the batch's request id is a digest of the
//! file: a second submit of the same file creates nothing more. A file
//! of more rows than one batch takes ([`MAX_BATCH`]) is refused before its
//! rows are checked, and files are read on a thread that may block.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::multipart::{Multipart, MultipartError, MultipartRejection};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use maud::{Markup, html};
use reemploi_import::lots::LotRow;
use reemploi_import::lots::again::{self, Plan};
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
use crate::session::{Auth, Role, Session};
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
    fields: Fields,
    file: Option<File>,
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
    let mut fields = Vec::new();
    let mut file = None;
    while let Some(mut field) = multipart
        .next_field()
        .await
        .map_err(|e| Unreceived::of(&e))?
    {
        let name = field.name().unwrap_or_default().to_owned();
        if name != FILE_FIELD {
            let value = field.text().await.map_err(|e| Unreceived::of(&e))?;
            fields.push((name, value));
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
            file = Some(File {
                name: file_name,
                bytes,
            });
        }
    }
    Ok(Upload {
        fields: fields.into_iter().collect(),
        file,
    })
}

/// What one kind of import reads, shows and sends.
trait Kind: Clone + Send + Sync + 'static {
    /// A row that passed the checks.
    type Row: Send + 'static;
    /// The page's introduction.
    const INTRO: &'static str;
    /// The field within a batch's requests that holds a row, as the API's
    /// violations name it.
    const INNER: &'static str;
    /// Who imports it.
    const ROLES: &'static [Role];

    /// Where its pages are.
    fn place(&self) -> Place;
    /// Its pages' title.
    async fn title(&self, state: &WebState, session: &Session) -> Result<String, WebError>;
    /// The same import with the options a form sent, or why they are wrong.
    fn with_options(&self, form: &Fields) -> Result<Self, Errors>;
    /// What the batch's request id is scoped to besides the file: the
    /// site, or the directory with its options.
    fn scope(&self) -> String;
    /// Sends the good rows in one batch.
    async fn send(
        &self,
        state: &WebState,
        session: &Session,
        rows: &[(u64, Self::Row)],
        request_id: String,
    ) -> Result<(), WebError>;
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
    /// The form's fields besides the file (none, or the default radius),
    /// with what was `typed` in them.
    fn options(&self, typed: &Fields, errors: &Errors) -> Markup;
    /// The same as hidden fields of the confirmation.
    fn hidden_options(&self) -> Markup;
    /// Whether the API's message on a conflict names this row.
    fn named_in(&self, _row: &Self::Row, _message: &str) -> bool {
        false
    }
}

/// A site's PEMD diagnostic, as lots.
#[derive(Clone)]
struct Diagnostic {
    /// The site's id (the last part of its name).
    site: String,
}

impl Diagnostic {
    fn parent(&self) -> String {
        format!("sites/{}", self.site)
    }
}

impl Kind for Diagnostic {
    type Row = LotRow;
    const INTRO: &'static str = T::IMPORT_DIAGNOSTIC_INTRO;
    const INNER: &'static str = "lot";
    const ROLES: &'static [Role] = &[Role::SiteManager, Role::Admin];

    fn place(&self) -> Place {
        let site = &self.site;
        Place {
            upload: format!("/chantiers/{site}/diagnostic"),
            confirm: format!("/chantiers/{site}/diagnostic/creer"),
            back: (format!("/chantiers/{site}"), T::IMPORT_BACK_TO_SITE),
        }
    }

    /// The site's name, which the API shows to those who may see the site
    /// only.
    async fn title(&self, state: &WebState, session: &Session) -> Result<String, WebError> {
        let request = ipb::GetSiteRequest {
            name: self.parent(),
        };
        let site = state
            .backend()
            .inventory()
            .get_site(bearer(&session.access_token, request)?)
            .await?
            .into_inner();
        Ok(T::import_diagnostic_title(&site.display_name))
    }

    fn with_options(&self, _: &Fields) -> Result<Diagnostic, Errors> {
        Ok(self.clone())
    }

    fn scope(&self) -> String {
        self.parent()
    }

    /// Creates the rows whose reference no lot of the site has, as drafts,
    /// and updates the drafts whose reference a row has with what the row
    /// changes; lots no longer drafts are left as they are (a file imported
    /// again, or revised, never makes its lots twice).
    async fn send(
        &self,
        state: &WebState,
        session: &Session,
        rows: &[(u64, LotRow)],
        request_id: String,
    ) -> Result<(), WebError> {
        let parent = self.parent();
        let existing = site_lots(state, session, &parent).await?;
        let plans = again::plan(rows, &existing);
        let requests: Vec<ipb::CreateLotRequest> = plans
            .iter()
            .filter_map(|(_, plan)| match plan {
                Plan::Create(row) => Some(ipb::CreateLotRequest {
                    parent: parent.clone(),
                    lot: Some(row.lot.clone()),
                    request_id: String::new(),
                    lot_id: String::new(),
                }),
                Plan::Update { .. } | Plan::Unchanged(_) | Plan::LeftAlone(..) => None,
            })
            .collect();
        let mut inventory = state.backend().inventory();
        if !requests.is_empty() {
            let request = ipb::BatchCreateLotsRequest {
                parent,
                requests,
                request_id,
            };
            inventory
                .batch_create_lots(bearer(&session.access_token, request)?)
                .await?;
        }
        for (_, plan) in &plans {
            if let Plan::Update { lot, row, fields } = plan {
                let request = again::update_request(lot, row, fields);
                inventory
                    .update_lot(bearer(&session.access_token, request)?)
                    .await?;
            }
        }
        Ok(())
    }

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

    fn options(&self, _: &Fields, _: &Errors) -> Markup {
        html! {}
    }

    fn hidden_options(&self) -> Markup {
        html! {}
    }
}

/// An SIAE directory export, as partners.
#[derive(Clone)]
struct Directory {
    /// The service radius of rows without one, in km.
    radius_km: i32,
}

impl Default for Directory {
    fn default() -> Directory {
        Directory {
            radius_km: partners::DEFAULT_RADIUS_KM,
        }
    }
}

impl Kind for Directory {
    type Row = rpb::Partner;
    const INTRO: &'static str = T::IMPORT_DIRECTORY_INTRO;
    const INNER: &'static str = "partner";
    const ROLES: &'static [Role] = &[Role::Admin];

    fn place(&self) -> Place {
        Place {
            upload: "/partenaires/import".to_owned(),
            confirm: "/partenaires/import/creer".to_owned(),
            back: ("/partenaires".to_owned(), T::IMPORT_BACK_TO_PARTNERS),
        }
    }

    async fn title(&self, _: &WebState, _: &Session) -> Result<String, WebError> {
        Ok(T::IMPORT_DIRECTORY_TITLE.to_owned())
    }

    /// The radius the form gives (the default when it gives none); a whole
    /// number of 1 to 200.
    fn with_options(&self, form: &Fields) -> Result<Directory, Errors> {
        let radius_km = match form.get(RADIUS_FIELD).filter(|v| !v.is_empty()) {
            None => partners::DEFAULT_RADIUS_KM,
            Some(v) => v
                .parse()
                .ok()
                .filter(|km| (1..=200).contains(km))
                .ok_or_else(|| {
                    Errors(vec![(
                        RADIUS_FIELD.to_owned(),
                        T::IMPORT_BAD_RADIUS.to_owned(),
                    )])
                })?,
        };
        Ok(Directory { radius_km })
    }

    fn scope(&self) -> String {
        format!("partners radius {}", self.radius_km)
    }

    /// Registers the partners, pending verification.
    async fn send(
        &self,
        state: &WebState,
        session: &Session,
        rows: &[(u64, rpb::Partner)],
        request_id: String,
    ) -> Result<(), WebError> {
        let requests = rows
            .iter()
            .map(|(_, partner)| rpb::RegisterPartnerRequest {
                partner: Some(partner.clone()),
                request_id: String::new(),
            })
            .collect();
        let request = rpb::BatchRegisterPartnersRequest {
            requests,
            request_id,
        };
        state
            .backend()
            .registry()
            .batch_register_partners(bearer(&session.access_token, request)?)
            .await?;
        Ok(())
    }

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

    /// The radius typed (a wrong one is shown as it was), else this one.
    fn options(&self, typed: &Fields, errors: &Errors) -> Markup {
        let radius = typed
            .get(RADIUS_FIELD)
            .filter(|v| !v.is_empty())
            .map_or_else(|| self.radius_km.to_string(), str::to_owned);
        view::field(
            RADIUS_FIELD,
            T::IMPORT_RADIUS,
            "number",
            &radius,
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

/// What becomes of a row of the file.
enum Outcome<'a, R> {
    Refused(&'a BadRow),
    Good(&'a R),
}

impl<R: Send + 'static> Preview<R> {
    /// Reads and checks every row of `file` on a thread that may block; the
    /// inner error is why the file cannot be imported, in French.
    async fn read<K: Kind<Row = R>>(
        kind: &K,
        file: File,
    ) -> Result<Result<Preview<R>, String>, WebError> {
        let kind = kind.clone();
        tokio::task::spawn_blocking(move || Preview::read_now(&kind, file))
            .await
            .map_err(|e| WebError::Internal(format!("reading an import: {e}")))
    }

    /// Reads and checks every row of `file`; a file of more rows than one
    /// batch takes is not checked.
    fn read_now<K: Kind<Row = R>>(kind: &K, file: File) -> Result<Preview<R>, String> {
        let sheet = sheet::read_bytes(&file.name, &file.bytes).map_err(|e| T::import_error(&e))?;
        if sheet.rows.len() > MAX_BATCH {
            return Err(T::import_too_many_rows(sheet.rows.len(), MAX_BATCH));
        }
        let (parsed, unused) = kind.parse(&sheet).map_err(|e| T::import_error(&e))?;
        Ok(Preview {
            file,
            sheet,
            parsed,
            unused,
            refused: Vec::new(),
            other: Vec::new(),
        })
    }
}

impl<R> Preview<R> {
    /// Whether the good rows can be sent: some, none refused.
    fn sendable(&self) -> bool {
        !self.parsed.good.is_empty() && self.refused.is_empty() && self.other.is_empty()
    }

    /// What becomes of each row, by line: the API's refusal over the
    /// checks made here.
    fn outcomes(&self) -> HashMap<u64, Outcome<'_, R>> {
        let good = self
            .parsed
            .good
            .iter()
            .map(|(line, row)| (*line, Outcome::Good(row)));
        let bad = self
            .parsed
            .bad
            .iter()
            .chain(&self.refused)
            .map(|row| (row.line, Outcome::Refused(row)));
        // The last of a line's outcomes is kept.
        good.chain(bad).collect()
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
    /// Where to go back to, and its link's text; where a confirmed import
    /// ends.
    back: (String, &'static str),
}

/// The pages of one import for one person.
struct Pages<'a> {
    title: String,
    session: &'a Session,
    place: Place,
}

impl<'a> Pages<'a> {
    async fn of<K: Kind>(
        state: &WebState,
        session: &'a Session,
        kind: &K,
    ) -> Result<Pages<'a>, WebError> {
        Ok(Pages {
            title: kind.title(state, session).await?,
            session,
            place: kind.place(),
        })
    }
}

impl Pages<'_> {
    /// The upload form, with what was `typed` and `errors`.
    fn form<K: Kind>(
        &self,
        kind: &K,
        typed: &Fields,
        errors: &Errors,
        status: StatusCode,
    ) -> Response {
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
                (kind.options(typed, errors))
                button type="submit" { (T::IMPORT_PREVIEW_BUTTON) }
            }
            p { a href=(self.place.back.0) { (self.place.back.1) } }
        };
        (status, view::page(&self.title, Some(self.session), body)).into_response()
    }

    /// The form again, with what was `typed` and why the file cannot be
    /// imported.
    fn file_error<K: Kind>(
        &self,
        kind: &K,
        typed: &Fields,
        message: String,
        status: StatusCode,
    ) -> Response {
        let errors = Errors(vec![(FILE_FIELD.to_owned(), message)]);
        self.form(kind, typed, &errors, status)
    }

    /// The preview of an uploaded file, or the form again with why there
    /// is none.
    async fn upload<K: Kind>(&self, kind: &K, upload: Upload) -> Result<Response, WebError> {
        let Some(file) = upload.file else {
            let message = T::IMPORT_NO_FILE.to_owned();
            return Ok(self.file_error(kind, &upload.fields, message, StatusCode::BAD_REQUEST));
        };
        Ok(match Preview::read(kind, file).await? {
            Ok(preview) => self.preview(kind, &preview, StatusCode::OK),
            Err(message) => self.file_error(kind, &upload.fields, message, StatusCode::BAD_REQUEST),
        })
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
    let outcomes = preview.outcomes();
    html! {
        div.table-wrap {
            table.import {
                caption { (T::import_caption(&preview.file.name)) }
                thead { tr {
                    th scope="col" { (T::COL_LINE) }
                    @for heading in headings { th scope="col" { (heading) } }
                } }
                tbody {
                    @for row in &preview.sheet.rows {
                        (table_row(kind, row, outcomes.get(&row.line), headings.len()))
                    }
                }
            }
        }
    }
}

/// One row of the file: its cells when it is good, what it holds and why
/// it is refused otherwise.
fn table_row<K: Kind>(
    kind: &K,
    row: &Row,
    outcome: Option<&Outcome<'_, K::Row>>,
    columns: usize,
) -> Markup {
    html! {
        @match outcome {
            Some(Outcome::Refused(bad)) => {
                tr.refused {
                    th scope="row" data-label=(T::COL_LINE) { (row.line) }
                    td colspan=(columns.saturating_sub(1)) data-label=(T::COL_CONTENT) { (content(row)) }
                    td data-label=(T::COL_RESULT) {
                        strong.warning { (T::IMPORT_REFUSED) }
                        ul { @for reason in &bad.reasons { li { (T::import_reason(reason)) } } }
                    }
                }
            },
            Some(Outcome::Good(good)) => {
                tr class=[kind.marked(good).then_some("hazardous")] {
                    th scope="row" data-label=(T::COL_LINE) { (row.line) }
                    (kind.cells(good))
                }
            },
            None => {},
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

/// The upload form of an import.
async fn upload_form<K: Kind>(
    state: &WebState,
    session: &Session,
    kind: &K,
) -> Result<Response, WebError> {
    require(session, K::ROLES)?;
    let pages = Pages::of(state, session, kind).await?;
    Ok(pages.form(kind, &Fields::default(), &Errors::default(), StatusCode::OK))
}

/// The preview of the file uploaded, or the form again with why there is
/// none. Who may import is checked before the upload is read.
async fn upload_preview<K: Kind>(
    state: &WebState,
    session: &Session,
    kind: &K,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, WebError> {
    require(session, K::ROLES)?;
    let received = receive(multipart).await;
    if let Ok(upload) = &received {
        session.check_csrf(upload.fields.csrf())?;
    }
    let pages = Pages::of(state, session, kind).await?;
    let upload = match received {
        Ok(upload) => upload,
        Err(unreceived) => {
            let (status, message) = unreceived.answer();
            return Ok(pages.file_error(kind, &Fields::default(), message.to_owned(), status));
        }
    };
    match kind.with_options(&upload.fields) {
        Ok(kind) => pages.upload(&kind, upload).await,
        Err(errors) => Ok(pages.form(kind, &upload.fields, &errors, StatusCode::BAD_REQUEST)),
    }
}

/// The good rows of the file a confirmation carries back, sent in one
/// batch whose request id is the file's digest; then where the import
/// ends, or the preview with what the API refused.
async fn confirm<K: Kind>(
    state: &WebState,
    session: &Session,
    kind: &K,
    body: &Bytes,
) -> Result<Response, WebError> {
    let form = Fields::from_body(body);
    session.check_csrf(form.csrf())?;
    require(session, K::ROLES)?;
    let kind = kind
        .with_options(&form)
        .map_err(|_| WebError::BadRequest("import options out of range".into()))?;
    let mut preview = Preview::read(&kind, File::carried(&form)?)
        .await?
        .map_err(|e| WebError::BadRequest(format!("the file carried back: {e}")))?;
    if preview.sendable() {
        let request_id = preview.file.request_id(&kind.scope());
        match kind
            .send(state, session, &preview.parsed.good, request_id)
            .await
        {
            Ok(()) => return Ok(redirect(&kind.place().back.0)),
            Err(WebError::Api(status)) => preview.refuse(&kind, status)?,
            Err(e) => return Err(e),
        }
    }
    let pages = Pages::of(state, session, &kind).await?;
    Ok(pages.preview(&kind, &preview, StatusCode::BAD_REQUEST))
}

/// Every lot of a site the person may see (a site's manager sees its
/// drafts), page after page.
async fn site_lots(
    state: &WebState,
    session: &Session,
    parent: &str,
) -> Result<Vec<ipb::Lot>, WebError> {
    let mut lots = Vec::new();
    let mut page_token = String::new();
    loop {
        let request = ipb::ListLotsRequest {
            parent: parent.to_owned(),
            page_size: i32::try_from(MAX_BATCH).unwrap_or(i32::MAX),
            page_token,
            ..Default::default()
        };
        let page = state
            .backend()
            .inventory()
            .list_lots(bearer(&session.access_token, request)?)
            .await?
            .into_inner();
        lots.extend(page.lots);
        if page.next_page_token.is_empty() {
            return Ok(lots);
        }
        page_token = page.next_page_token;
    }
}

/// GET `/chantiers/{site}/diagnostic`: the upload form.
pub async fn diagnostic_form(
    State(state): State<WebState>,
    Auth(session): Auth,
    Path(site): Path<String>,
) -> Result<Response, WebError> {
    upload_form(&state, &session, &Diagnostic { site }).await
}

/// POST `/chantiers/{site}/diagnostic`: the preview of the file uploaded.
pub async fn diagnostic_preview(
    State(state): State<WebState>,
    Auth(session): Auth,
    Path(site): Path<String>,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, WebError> {
    upload_preview(&state, &session, &Diagnostic { site }, multipart).await
}

/// POST `/chantiers/{site}/diagnostic/creer`: the good rows of the file
/// carried back, created as drafts in one batch; back to the site.
pub async fn diagnostic_create(
    State(state): State<WebState>,
    Auth(session): Auth,
    Path(site): Path<String>,
    body: Bytes,
) -> Result<Response, WebError> {
    confirm(&state, &session, &Diagnostic { site }, &body).await
}

/// GET `/partenaires/import`: the upload form.
pub async fn directory_form(
    State(state): State<WebState>,
    Auth(session): Auth,
) -> Result<Response, WebError> {
    upload_form(&state, &session, &Directory::default()).await
}

/// POST `/partenaires/import`: the preview of the file uploaded.
pub async fn directory_preview(
    State(state): State<WebState>,
    Auth(session): Auth,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, WebError> {
    upload_preview(&state, &session, &Directory::default(), multipart).await
}

/// POST `/partenaires/import/creer`: the good rows of the file carried
/// back, registered in one batch (pending verification); back to the
/// partners.
pub async fn directory_create(
    State(state): State<WebState>,
    Auth(session): Auth,
    body: Bytes,
) -> Result<Response, WebError> {
    confirm(&state, &session, &Directory::default(), &body).await
}
