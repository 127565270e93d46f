//! What a webhook may be: where it posts (https to a public host; inside
//! addresses, over plain http too, only when private targets are allowed,
//! see `guard`) and which event types it asks for (NATS subject patterns
//! without `reemploi.`).

use reemploi_runtime::validation::Check;
use url::Url;

use crate::webhooks::guard;

/// The longest URL accepted.
const MAX_URL: usize = 2048;
/// The most event types of one webhook.
const MAX_TYPES: usize = 20;
/// The longest event type.
const MAX_TYPE: usize = 200;

/// The URL `raw` if a webhook may post to it (when `allow_private`, also
/// inside addresses, over plain http too); else records why in `c`.
pub fn url(c: &mut Check, field: &str, raw: &str, allow_private: bool) -> Option<String> {
    if raw.is_empty() {
        c.fail(field, "required: where the events are posted");
        return None;
    }
    if raw.len() > MAX_URL {
        c.fail(field, "at most 2,048 characters");
        return None;
    }
    let Ok(url) = Url::parse(raw) else {
        c.fail(field, "not an absolute URL");
        return None;
    };
    if !url.username().is_empty() || url.password().is_some() {
        c.fail(
            field,
            "no credentials in the URL: deliveries are signed with the webhook's secret",
        );
        return None;
    }
    let Some(host) = url.host() else {
        c.fail(field, "an https URL with a host");
        return None;
    };
    if allow_private {
        // Plain http still only inside: on the open network it would
        // carry the events in clear.
        return match url.scheme() {
            "https" => Some(url.to_string()),
            "http" if guard::forbidden_host(&host) => Some(url.to_string()),
            _ => {
                c.fail(
                    field,
                    "an https URL (or http to a loopback or private address)",
                );
                None
            }
        };
    }
    if url.scheme() != "https" {
        c.fail(field, "an https URL");
        return None;
    }
    if guard::forbidden_host(&host) {
        c.fail(
            field,
            "a public host: loopback, private, link-local and other special addresses are not reachable",
        );
        return None;
    }
    Some(url.to_string())
}

/// The event types `types` if each is a valid pattern; else records why.
pub fn event_types(c: &mut Check, field: &str, types: &[String]) -> Vec<String> {
    if types.is_empty() {
        c.fail(
            field,
            "at least one event type, e.g. `inventory.lot.published` or `inventory.>`",
        );
    }
    if types.len() > MAX_TYPES {
        c.fail(field, "at most 20 event types");
    }
    let mut out: Vec<String> = Vec::with_capacity(types.len());
    for (i, t) in types.iter().enumerate() {
        match pattern(t) {
            Ok(()) if !out.contains(t) => out.push(t.clone()),
            Ok(()) => {}
            Err(why) => c.fail(&format!("{field}[{i}]"), why),
        }
    }
    out
}

/// Whether `p` is a subject pattern as `reemploi_events::subject_matches`
/// reads them: tokens of lower-case letters, digits, `_` and `-`
/// separated by dots, `*` for one token, `>` for the rest (last only).
fn pattern(p: &str) -> Result<(), &'static str> {
    if p.is_empty() || p.len() > MAX_TYPE {
        return Err("1 to 200 characters");
    }
    let tokens: Vec<&str> = p.split('.').collect();
    if tokens[0] == "reemploi" {
        return Err("without the `reemploi.` prefix: `inventory.lot.published`");
    }
    if tokens[0] == "identity" {
        return Err("accounts are not sent to webhooks");
    }
    let last = tokens.len() - 1;
    for (i, t) in tokens.iter().enumerate() {
        let word = !t.is_empty()
            && t.chars()
                .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_' || ch == '-');
        let ok = word || *t == "*" || (*t == ">" && i == last);
        if !ok {
            return Err(
                "dot-separated words (a-z, 0-9, _ and -), `*` for one word, `>` at the end for the rest",
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_url(raw: &str, allow_private: bool) -> bool {
        let mut c = Check::new("");
        url(&mut c, "url", raw, allow_private).is_some() && c.is_clean()
    }

    fn check_type(t: &str) -> bool {
        pattern(t).is_ok()
    }

    #[test]
    fn urls_are_https_to_public_hosts() {
        assert!(check_url("https://hooks.example.org/reemploi", false));
        assert!(check_url("https://8.8.8.8/in", false));
        assert!(check_url("https://[2606:4700::1111]/in", false));
        for bad in [
            "https://127.0.0.1:8080/in",
            "https://10.0.0.1/in",
            "https://172.16.4.2/in",
            "https://192.168.0.4/in",
            "https://169.254.169.254/latest",
            "https://100.64.0.1/",
            "https://0.0.0.0/",
            "https://[::1]:9000/",
            "https://[::ffff:127.0.0.1]/",
            "https://[fe80::1]/",
            "https://[fd00::1]/",
            "https://localhost:3000/",
            "https://api.localhost/",
            "http://hooks.example.org/",
            "http://8.8.8.8/",
            "ftp://hooks.example.org/",
            "https://user:pw@hooks.example.org/",
            "not a url",
            "",
        ] {
            assert!(!check_url(bad, false), "{bad}");
        }
    }

    #[test]
    fn private_targets_allow_http_and_inside_addresses() {
        for ok in [
            "http://127.0.0.1:8080/in",
            "http://10.1.2.3/in",
            "http://[::1]:9000/",
            "http://localhost:3000/",
            "https://169.254.169.254/",
            "https://hooks.example.org/",
        ] {
            assert!(check_url(ok, true), "{ok}");
        }
        assert!(!check_url("http://hooks.example.org/", true));
        assert!(!check_url("ftp://127.0.0.1/", true));
        assert!(!check_url("https://user:pw@127.0.0.1/", true));
    }

    #[test]
    fn event_types_are_subject_patterns() {
        for ok in [
            "inventory.lot.published",
            "inventory.claim.*",
            "registry.>",
            ">",
        ] {
            assert!(check_type(ok), "{ok}");
        }
        for bad in [
            "",
            "reemploi.inventory.lot.published",
            "identity.account.created",
            "inventory..lot",
            "inventory.>.published",
            "inventory.lot.Published",
            "inventory lot",
            "inventory.*x",
        ] {
            assert!(!check_type(bad), "{bad}");
        }
    }
}
