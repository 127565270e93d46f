//! Validation of free-text fields.

use crate::DomainError;

/// Fields allowed at least this many characters are treated as long,
/// multi-line text (descriptions, notes) where `\n` and `\t` are legitimate;
/// shorter fields (names, titles) are single-line.
pub const LONG_TEXT_MIN_CHARS: usize = 256;

/// Validates a required text field: trims surrounding whitespace, refuses an
/// empty result, more than `max_chars` characters, and control characters
/// (except `\n` and `\t` in long text, see [`LONG_TEXT_MIN_CHARS`]; Windows
/// `\r\n` line ends are normalised to `\n` there).
pub fn required(field: &'static str, value: &str, max_chars: usize) -> Result<String, DomainError> {
    optional(field, value, max_chars)?
        .ok_or_else(|| DomainError::invalid(field, "must not be empty"))
}

/// Like [`required`], but an empty or blank value yields `None`.
pub fn optional(
    field: &'static str,
    value: &str,
    max_chars: usize,
) -> Result<Option<String>, DomainError> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Ok(None);
    }
    let long = max_chars >= LONG_TEXT_MIN_CHARS;
    let text = if long {
        trimmed.replace("\r\n", "\n")
    } else {
        trimmed.to_owned()
    };
    let count = text.chars().count();
    if count > max_chars {
        return Err(DomainError::invalid(
            field,
            format!("must be at most {max_chars} characters, got {count}"),
        ));
    }
    let allowed = |c: char| long && (c == '\n' || c == '\t');
    if let Some(c) = text.chars().find(|&c| c.is_control() && !allowed(c)) {
        return Err(DomainError::invalid(
            field,
            format!("must not contain control character U+{:04X}", u32::from(c)),
        ));
    }
    if let Some(c) = text.chars().find(|&c| is_bidi_control(c)) {
        return Err(DomainError::invalid(
            field,
            format!(
                "must not contain the direction control U+{:04X}: it makes a text read \
                 differently from what it holds",
                u32::from(c)
            ),
        ));
    }
    Ok(Some(text))
}

/// Unicode's explicit direction controls (marks, embeddings, overrides,
/// isolates): they can make a name display as another one.
pub fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
    )
}

/// Validates an optional INSEE commune code: five characters (digits, or
/// `2A`/`2B` for Corsica), e.g. `68224`.
pub fn insee_code(field: &'static str, value: &str) -> Result<Option<String>, DomainError> {
    let v = value.trim();
    if v.is_empty() {
        return Ok(None);
    }
    if v.len() == 5 && v.chars().all(|c| c.is_ascii_alphanumeric()) {
        Ok(Some(v.to_ascii_uppercase()))
    } else {
        Err(DomainError::invalid(
            field,
            "an INSEE code has five characters, e.g. 68224",
        ))
    }
}

/// Validates an optional French postal code: five digits, e.g. `68100`.
pub fn postal_code(field: &'static str, value: &str) -> Result<Option<String>, DomainError> {
    let v = value.trim();
    if v.is_empty() {
        return Ok(None);
    }
    if v.len() == 5 && v.chars().all(|c| c.is_ascii_digit()) {
        Ok(Some(v.to_string()))
    } else {
        Err(DomainError::invalid(
            field,
            "a French postal code has five digits",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insee_and_postal_codes() {
        assert_eq!(insee_code("insee", " 68224 "), Ok(Some("68224".into())));
        assert_eq!(insee_code("insee", "2a004"), Ok(Some("2A004".into())));
        assert_eq!(insee_code("insee", ""), Ok(None));
        assert!(insee_code("insee", "6822").is_err());
        assert_eq!(postal_code("cp", "68100"), Ok(Some("68100".into())));
        assert!(postal_code("cp", "68 100").is_err());
    }
    use proptest::prelude::*;

    #[test]
    fn required_trims_and_rejects_empty() {
        assert_eq!(required("name", "  Atelier  ", 50).unwrap(), "Atelier");
        assert_eq!(
            required("name", " \t\n ", 50),
            Err(DomainError::invalid("name", "must not be empty"))
        );
        assert_eq!(required("name", "", 50).unwrap_err().field(), Some("name"));
    }

    #[test]
    fn optional_empty_is_none() {
        assert_eq!(optional("note", "", 10), Ok(None));
        assert_eq!(optional("note", "   ", 10), Ok(None));
        assert_eq!(optional("note", " x ", 10), Ok(Some("x".into())));
    }

    #[test]
    fn length_counts_characters_not_bytes() {
        let accented = "é".repeat(10);
        assert_eq!(required("title", &accented, 10).unwrap(), accented);
        let e = required("title", &"é".repeat(11), 10).unwrap_err();
        assert_eq!(e.field(), Some("title"));
        assert!(required("title", "Bâti Insertion Sud-Alsace", 25).is_ok());
        assert!(required("title", "Bâti Insertion Sud-Alsace", 24).is_err());
    }

    #[test]
    fn control_characters() {
        assert!(required("title", "a\nb", 100).is_err());
        assert!(required("title", "a\tb", 100).is_err());
        assert!(required("title", "a\u{0}b", 100).is_err());
        assert_eq!(
            required("description", "ligne 1\r\nligne 2\tfin", 2000).unwrap(),
            "ligne 1\nligne 2\tfin"
        );
        assert!(required("description", "a\u{7}b", 2000).is_err());
        assert!(required("description", "a\rb", 2000).is_err());
        assert!(optional("description", "a\u{1b}[31m", 2000).is_err());
    }

    proptest! {
        #[test]
        fn accepted_text_respects_all_rules(s in "\\PC{0,40}", max in 1usize..60) {
            if let Ok(Some(out)) = optional("f", &s, max) {
                prop_assert_eq!(out.as_str(), out.trim());
                prop_assert!(!out.is_empty());
                prop_assert!(out.chars().count() <= max);
                prop_assert!(!out.chars().any(char::is_control));
                prop_assert_eq!(required("f", &s, max), Ok(out));
            }
        }
    }

    #[test]
    fn direction_controls_are_refused() {
        for bad in [
            "Atelier\u{202E}eiregnirp",
            "a\u{2066}b",
            "\u{200F}x",
            "x\u{061C}",
        ] {
            let e = optional("legal_name", bad, 200).unwrap_err();
            assert_eq!(e.field(), Some("legal_name"), "{bad:?}");
        }
        assert_eq!(
            optional("legal_name", "Atelier \u{5D0}\u{5D1} réemploi", 200),
            Ok(Some("Atelier \u{5D0}\u{5D1} réemploi".to_owned()))
        );
    }
}
