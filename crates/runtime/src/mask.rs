//! Update masks (AIP-134): which fields of a resource an Update request
//! changes, checked against what may be changed, and merged into the
//! current resource, the same way for every resource of every service.

use prost_types::FieldMask;

use crate::validation::Violation;

/// How one updatable field is copied from a patch into the current value.
pub type Copy<T> = fn(&mut T, &T);

/// The updatable fields of a resource `T`: each top-level field name with
/// how to copy it.
#[derive(Debug)]
pub struct Updatable<T: 'static>(pub &'static [(&'static str, Copy<T>)]);

impl<T> Updatable<T> {
    /// The fields `mask` names, each updatable (a sub-path such as
    /// `location.latitude` names its top-level field): every other path, and
    /// a missing or empty mask, is a violation of `update_mask`.
    pub fn fields(&self, mask: Option<&FieldMask>) -> Result<Vec<Copy<T>>, Vec<Violation>> {
        let Some(mask) = mask.filter(|m| !m.paths.is_empty()) else {
            return Err(vec![Violation::new(
                "update_mask",
                "required: name the fields to update",
            )]);
        };
        let mut fields = Vec::new();
        let mut violations = Vec::new();
        for path in &mask.paths {
            let top = path.split('.').next().unwrap_or_default();
            match self.0.iter().find(|(name, _)| *name == top) {
                Some((_, copy)) => fields.push(*copy),
                None => violations.push(Violation::new(
                    "update_mask",
                    format!("`{path}` cannot be updated"),
                )),
            }
        }
        if violations.is_empty() {
            Ok(fields)
        } else {
            Err(violations)
        }
    }
}

/// Copies the `fields` from `patch` into a copy of `current`.
pub fn merge<T: Clone>(current: &T, patch: &T, fields: &[Copy<T>]) -> T {
    let mut merged = current.clone();
    for copy in fields {
        copy(&mut merged, patch);
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Default, PartialEq)]
    struct Site {
        name: String,
        city: String,
        status: i32,
    }

    const SITE: Updatable<Site> = Updatable(&[
        ("name", |c, p| c.name = p.name.clone()),
        ("city", |c, p| c.city = p.city.clone()),
    ]);

    fn mask(paths: &[&str]) -> FieldMask {
        FieldMask {
            paths: paths.iter().map(|p| (*p).to_owned()).collect(),
        }
    }

    #[test]
    fn only_named_updatable_fields_change() {
        let current = Site {
            name: "a".into(),
            city: "Mulhouse".into(),
            status: 1,
        };
        let patch = Site {
            name: "b".into(),
            city: "Illzach".into(),
            status: 9,
        };
        let fields = SITE.fields(Some(&mask(&["city"]))).unwrap();
        assert_eq!(
            merge(&current, &patch, &fields),
            Site {
                city: "Illzach".into(),
                ..current.clone()
            }
        );
        let violations = SITE
            .fields(Some(&mask(&["status", "name", "x.y"])))
            .unwrap_err();
        assert_eq!(violations.len(), 2);
        assert!(SITE.fields(None).is_err());
        assert!(SITE.fields(Some(&mask(&[]))).is_err());
    }
}
