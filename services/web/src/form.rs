//! Form bodies and query strings, read as the browser sends them
//! (`application/x-www-form-urlencoded`): a list of pairs, since a field
//! may repeat (checkboxes).

use axum::body::Bytes;

use crate::format;
use crate::session::CSRF_FIELD;
use crate::text::T;

/// The fields of a form or a query string.
#[derive(Debug, Clone, Default)]
pub struct Fields(Vec<(String, String)>);

impl Fields {
    /// The fields of a form body.
    pub fn from_body(body: &Bytes) -> Fields {
        Fields(
            url::form_urlencoded::parse(body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// The fields of a query string (none without one).
    pub fn from_query(query: Option<&str>) -> Fields {
        Fields::from_body(&Bytes::copy_from_slice(query.unwrap_or("").as_bytes()))
    }

    /// Fields with these values, to fill a form from a resource.
    pub fn of(pairs: &[(&str, String)]) -> Fields {
        Fields(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
        )
    }

    /// The first value of `name`, trimmed; `None` when absent.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
    }

    /// The first value of `name`, trimmed, or "" when absent.
    pub fn text(&self, name: &str) -> String {
        self.get(name).unwrap_or_default().to_owned()
    }

    /// Sets `name` to `value`, in place of any value it had.
    pub fn set(&mut self, name: &str, value: String) {
        self.0.retain(|(k, _)| k != name);
        self.0.push((name.to_owned(), value));
    }

    /// `name` as a finite decimal, read with a decimal comma or point;
    /// `None` when absent or unreadable.
    pub fn decimal(&self, name: &str) -> Option<f64> {
        self.get(name)?
            .replace(',', ".")
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
    }

    /// `name` as a day (`YYYY-MM-DD`), in days since 1970-01-01; `None`
    /// when absent or empty. When it cannot be read, the error to show
    /// beside the field, which is labelled `label`.
    pub fn date(&self, name: &str, label: &str) -> Result<Option<i64>, (String, String)> {
        match self.get(name).filter(|d| !d.is_empty()) {
            None => Ok(None),
            Some(text) => format::parse_date(text)
                .map(Some)
                .ok_or_else(|| (name.to_owned(), T::unreadable(label, T::BAD_DATE))),
        }
    }

    /// Every non-empty value of `name`.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, v)| k == name && !v.trim().is_empty())
            .map(|(_, v)| v.trim().to_owned())
            .collect()
    }

    /// The CSRF token sent with the form.
    pub fn csrf(&self) -> Option<&str> {
        self.get(CSRF_FIELD)
    }
}

impl FromIterator<(String, String)> for Fields {
    /// Fields made by the app itself, e.g. a form filled with what is stored.
    fn from_iter<I: IntoIterator<Item = (String, String)>>(pairs: I) -> Fields {
        Fields(pairs.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_fields_are_all_kept() {
        let f = Fields::from_body(&Bytes::from_static(b"c=a&c=b&n=+x%C3%A9+&c="));
        assert_eq!(f.all("c"), vec!["a", "b"]);
        assert_eq!(f.get("n"), Some("xé"));
        assert_eq!(f.get("m"), None);
        let n = Fields::of(&[("a", "3,5".into()), ("b", "x".into()), ("c", "inf".into())]);
        assert_eq!(n.decimal("a"), Some(3.5));
        assert_eq!(n.decimal("b"), None);
        assert_eq!(n.decimal("c"), None);
        assert_eq!(n.decimal("d"), None);
        let d = Fields::of(&[
            ("a", "1970-01-03".into()),
            ("b", "".into()),
            ("c", "hier".into()),
        ]);
        assert_eq!(d.date("a", "A"), Ok(Some(2)));
        assert_eq!(d.date("b", "B"), Ok(None));
        assert_eq!(d.date("z", "Z"), Ok(None));
        assert_eq!(
            d.date("c", "Le jour"),
            Err(("c".to_owned(), T::unreadable("Le jour", T::BAD_DATE)))
        );
    }
}
