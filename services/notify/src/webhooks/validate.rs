//! What a webhook may be: where it posts (https, or plain http only inside
//! the receiver's own network) and which event types it asks for (NATS
//! subject patterns without `reemploi.`).

use std::net::{Ipv4Addr, Ipv6Addr};

use reemploi_runtime::validation::Check;
use url::{Host, Url};

/// The longest URL accepted.
const MAX_URL: usize = 2048;
/// The most event types of one webhook.
const MAX_TYPES: usize = 20;
/// The longest event type.
const MAX_TYPE: usize = 200;

/// The URL `raw` if a webhook may post to it; else records why in `c`.
pub fn url(c: &mut Check, field: &str, raw: &str) -> Option<String> {
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
    match (url.scheme(), url.host()) {
        ("https", Some(_)) => Some(url.to_string()),
        ("http", Some(host)) if inside(&host) => Some(url.to_string()),
        ("http", Some(_)) => {
            c.fail(
                field,
                "plain http only to a loopback or private address; use https",
            );
            None
        }
        _ => {
            c.fail(
                field,
                "an https URL (or http to a loopback or private address)",
            );
            None
        }
    }
}

/// Whether a host is the machine itself or a private network's.
fn inside(host: &Host<&str>) -> bool {
    match host {
        Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        Host::Ipv4(ip) => private_v4(*ip),
        Host::Ipv6(ip) => private_v6(*ip),
    }
}

fn private_v4(ip: Ipv4Addr) -> bool {
    ip.is_loopback() || ip.is_private()
}

fn private_v6(ip: Ipv6Addr) -> bool {
    // Unique local addresses (fc00::/7) are IPv6's private ones.
    ip.is_loopback()
        || (ip.segments()[0] & 0xfe00) == 0xfc00
        || ip.to_ipv4_mapped().is_some_and(private_v4)
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

    fn check_url(raw: &str) -> bool {
        let mut c = Check::new("");
        url(&mut c, "url", raw).is_some() && c.is_clean()
    }

    fn check_type(t: &str) -> bool {
        pattern(t).is_ok()
    }

    #[test]
    fn urls_are_https_or_http_inside() {
        assert!(check_url("https://hooks.example.org/reemploi"));
        assert!(check_url("http://127.0.0.1:8080/in"));
        assert!(check_url("http://10.1.2.3/in"));
        assert!(check_url("http://192.168.0.4/in"));
        assert!(check_url("http://[::1]:9000/"));
        assert!(check_url("http://[fd00::1]/"));
        assert!(check_url("http://localhost:3000/"));
        assert!(!check_url("http://hooks.example.org/"));
        assert!(!check_url("http://8.8.8.8/"));
        assert!(!check_url("http://169.254.169.254/latest"));
        assert!(!check_url("ftp://127.0.0.1/"));
        assert!(!check_url("https://user:pw@hooks.example.org/"));
        assert!(!check_url("not a url"));
        assert!(!check_url(""));
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
