//! The mailer: an SMTP relay when one is configured, `.eml` files otherwise.

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use url::Url;

use crate::{Mail, MailArgs, MailError};

/// Folder of the data directory that holds the `.eml` files.
pub const MAIL_DIR: &str = "mail";

/// Where a mail went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sent {
    /// Accepted by the SMTP relay.
    Smtp {
        /// The relay, as `host:port`.
        relay: String,
    },
    /// Written to this `.eml` file.
    File {
        /// The file.
        path: PathBuf,
    },
}

/// Sends mail as configured by [`MailArgs`]. Cheap to clone (one shared
/// configuration); each SMTP send opens its own connection, so clones may
/// send at the same time.
#[derive(Clone)]
pub struct Mailer {
    inner: Arc<Inner>,
}

struct Inner {
    from: Mailbox,
    transport: Transport,
}

enum Transport {
    Smtp {
        transport: AsyncSmtpTransport<Tokio1Executor>,
        relay: String,
    },
    Files {
        dir: PathBuf,
    },
}

// By hand: lettre's transport is left out, it holds the credentials.
impl fmt::Debug for Mailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("Mailer");
        debug.field("from", &self.inner.from.to_string());
        match &self.inner.transport {
            Transport::Smtp { relay, .. } => debug.field("smtp", relay),
            Transport::Files { dir } => debug.field("files", dir),
        };
        debug.finish()
    }
}

impl Mailer {
    /// The mailer `args` describe. Without `--smtp-url`, mail is written to
    /// `<data_dir>/mail/`, created here (0700, like the data directory,
    /// since the mail holds sign-in links). Nothing is connected yet: a
    /// relay that is down shows at the first [`Mailer::send`].
    pub fn new(args: &MailArgs, data_dir: &Path) -> Result<Mailer, MailError> {
        let from: Mailbox =
            args.mail_from
                .parse()
                .map_err(|e: lettre::address::AddressError| MailError::From {
                    value: args.mail_from.clone(),
                    reason: e.to_string(),
                })?;
        let transport = match &args.smtp_url {
            Some(url) => {
                let ca = match &args.smtp_ca_file {
                    Some(path) => Some(read_ca(path)?),
                    None => None,
                };
                let (transport, relay) = smtp_transport(url, ca)?;
                tracing::info!(relay = %relay, "mail goes through the SMTP relay");
                Transport::Smtp { transport, relay }
            }
            None => {
                let dir = data_dir.join(MAIL_DIR);
                create_private_dir(&dir)?;
                tracing::info!(
                    dir = %dir.display(),
                    "no --smtp-url: mail is written to .eml files"
                );
                Transport::Files { dir }
            }
        };
        Ok(Mailer {
            inner: Arc::new(Inner { from, transport }),
        })
    }

    /// Sends `mail`: hands it to the relay, or writes it as
    /// `<data_dir>/mail/<UTC time>-<id>.eml` (0600) and logs that path. The
    /// body is never logged.
    pub async fn send(&self, mail: &Mail) -> Result<Sent, MailError> {
        match &self.inner.transport {
            Transport::Smtp { transport, relay } => {
                let message = mail.message(&self.inner.from, false)?;
                let message_id = message_id(&message);
                transport
                    .send(message)
                    .await
                    .map_err(|source| MailError::Smtp {
                        relay: relay.clone(),
                        source,
                    })?;
                tracing::info!(relay = %relay, message_id = %message_id, "mail sent");
                Ok(Sent::Smtp {
                    relay: relay.clone(),
                })
            }
            Transport::Files { dir } => {
                let message = mail.message(&self.inner.from, true)?;
                let path = dir.join(file_name(SystemTime::now()));
                write_private_file(&path, message.formatted()).await?;
                tracing::info!(
                    path = %path.display(),
                    message_id = %message_id(&message),
                    "mail written (no --smtp-url): open this file to read it"
                );
                Ok(Sent::File { path })
            }
        }
    }
}

fn message_id(message: &lettre::Message) -> String {
    message
        .headers()
        .get_raw("Message-ID")
        .unwrap_or_default()
        .to_owned()
}

/// How a plaintext URL asks for its security.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Security {
    /// `smtps://`: TLS from the first byte.
    Tls,
    /// `smtp://`: STARTTLS, which the relay must offer.
    StartTls,
    /// `smtp://...?tls=none`: no encryption at all.
    None,
}

/// The transport for `url` and its `host:port` for logs. Every error is
/// written here, without the URL: it may hold a password, and so may
/// the `url` crate's messages about it.
fn smtp_transport(
    url: &str,
    ca: Option<Certificate>,
) -> Result<(AsyncSmtpTransport<Tokio1Executor>, String), MailError> {
    let bad = |reason: &str| MailError::SmtpUrl(reason.to_owned());
    let parsed = Url::parse(url).map_err(|e| {
        // url's ParseError names the problem (e.g. "invalid port number"),
        // not the input.
        MailError::SmtpUrl(format!("not a URL ({e})"))
    })?;
    let security = security_of(&parsed)?;
    if !matches!(parsed.path(), "" | "/") || parsed.fragment().is_some() {
        return Err(bad("the URL takes no path and no fragment"));
    }
    let (host, loopback) = host_of(&parsed)?;
    let port = parsed.port().unwrap_or(match security {
        Security::Tls => 465,
        Security::StartTls => 587,
        Security::None => 25,
    });
    let relay = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };

    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host.as_str())
        .port(port)
        .tls(tls_of(security, &host, ca)?);

    if !parsed.username().is_empty() || parsed.password().is_some() {
        if security == Security::None && !loopback {
            // A password in clear across a network is readable by anyone on
            // the path: only a relay on this machine may get one that way.
            return Err(bad(
                "with tls=none, credentials are only sent to a relay on a loopback address; \
                 use STARTTLS (smtp://) or TLS (smtps://)",
            ));
        }
        let user = decode(parsed.username(), "user")?;
        let password = decode(parsed.password().unwrap_or_default(), "password")?;
        builder = builder.credentials(Credentials::new(user, password));
    }
    Ok((builder.build(), relay))
}

/// How the URL asks to talk to the relay: its scheme, and `tls=none` to
/// leave STARTTLS out.
fn security_of(parsed: &Url) -> Result<Security, MailError> {
    let bad = |reason: &str| MailError::SmtpUrl(reason.to_owned());
    let mut security = match parsed.scheme() {
        "smtps" => Security::Tls,
        "smtp" => Security::StartTls,
        _ => {
            return Err(bad(
                "the scheme must be smtp:// (STARTTLS) or smtps:// (TLS)",
            ));
        }
    };
    for (key, value) in parsed.query_pairs() {
        match (key.as_ref(), value.as_ref(), security) {
            ("tls", "required", Security::StartTls) => {}
            ("tls", "none", Security::StartTls) => security = Security::None,
            ("tls", _, Security::StartTls) => {
                return Err(bad(
                    "tls= takes `required` (STARTTLS, the default) or `none`",
                ));
            }
            ("tls", _, _) => return Err(bad("smtps:// takes no tls= parameter")),
            _ => return Err(bad("the only query parameter is tls=")),
        }
    }
    Ok(security)
}

/// The relay's host, and whether it is this machine.
fn host_of(parsed: &Url) -> Result<(String, bool), MailError> {
    match parsed.host() {
        Some(url::Host::Domain(name)) if !name.is_empty() => {
            let loopback = name.eq_ignore_ascii_case("localhost")
                || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
            Ok((name.to_owned(), loopback))
        }
        Some(url::Host::Ipv4(ip)) => Ok((ip.to_string(), ip.is_loopback())),
        Some(url::Host::Ipv6(ip)) => Ok((ip.to_string(), ip.is_loopback())),
        _ => Err(MailError::SmtpUrl("the URL names no host".to_owned())),
    }
}

/// The TLS of the connection to `host`, trusting `ca` besides the system's.
fn tls_of(security: Security, host: &str, ca: Option<Certificate>) -> Result<Tls, MailError> {
    if security == Security::None {
        return Ok(Tls::None);
    }
    let mut tls = TlsParameters::builder(host.to_owned());
    if let Some(ca) = ca {
        tls = tls.add_root_certificate(ca);
    }
    let tls = tls
        .build_rustls()
        .map_err(|e| MailError::SmtpUrl(format!("TLS setup failed: {e}")))?;
    Ok(if security == Security::Tls {
        Tls::Wrapper(tls)
    } else {
        Tls::Required(tls)
    })
}

/// Percent-decodes the `what` of the URL, which must then be UTF-8.
fn decode(value: &str, what: &str) -> Result<String, MailError> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| MailError::SmtpUrl(format!("the {what} holds a bad %-escape")))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out)
        .map_err(|_| MailError::SmtpUrl(format!("the {what} is not UTF-8 once decoded")))
}

fn read_ca(path: &Path) -> Result<Certificate, MailError> {
    let ca_error = |reason: String| MailError::CaFile {
        path: path.to_owned(),
        reason,
    };
    let pem = std::fs::read(path).map_err(|e| ca_error(e.to_string()))?;
    // lettre takes a file without any certificate as an empty list, which
    // would silently trust nothing more.
    if !pem
        .windows(b"-----BEGIN CERTIFICATE-----".len())
        .any(|w| w == b"-----BEGIN CERTIFICATE-----")
    {
        return Err(ca_error("no PEM certificate in it".to_owned()));
    }
    Certificate::from_pem(&pem).map_err(|e| ca_error(e.to_string()))
}

/// Creates `dir` and its missing parents, those created here 0700.
fn create_private_dir(dir: &Path) -> Result<(), MailError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(|source| MailError::Write {
        path: dir.to_owned(),
        source,
    })
}

/// Writes a new file readable by its owner only (0600 from its creation:
/// the mail holds a sign-in link); never replaces an existing one. On a
/// blocking thread, as tokio's own file operations are.
async fn write_private_file(path: &Path, contents: Vec<u8>) -> Result<(), MailError> {
    let owned = path.to_owned();
    let written = tokio::task::spawn_blocking(move || {
        use std::io::Write as _;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&owned)?;
        file.write_all(&contents)?;
        file.flush()
    })
    .await
    .unwrap_or_else(|join| Err(std::io::Error::other(join)));
    written.map_err(|source| MailError::Write {
        path: path.to_owned(),
        source,
    })
}

/// `20260314T091502Z-1a2b3c4d.eml`: names sort by time, and a random part
/// keeps two mails of the same second apart.
fn file_name(now: SystemTime) -> String {
    let secs = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    let of_day = secs % 86_400;
    let id = uuid::Uuid::now_v7().simple().to_string();
    // The last hex digits of a v7 UUID are random; its first ones are time.
    let short = &id[id.len() - 8..];
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z-{short}.eml",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60
    )
}

/// The proleptic Gregorian date of a count of days since 1970-01-01
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn file_names_carry_the_utc_time() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(20_526), (2026, 3, 14));
        let name = file_name(UNIX_EPOCH + Duration::from_secs(20_526 * 86_400 + 33_302));
        assert!(name.starts_with("20260314T091502Z-"), "{name}");
        assert!(name.ends_with(".eml") && name.len() == "20260314T091502Z-".len() + 12);
    }

    #[test]
    fn urls_and_their_errors() {
        let ok = |url: &str| {
            smtp_transport(url, None)
                .map(|(_, relay)| relay)
                .unwrap_or_else(|e| panic!("{url}: {e}"))
        };
        assert_eq!(ok("smtp://u:p@mail.example.org"), "mail.example.org:587");
        assert_eq!(ok("smtps://u:p@mail.example.org"), "mail.example.org:465");
        assert_eq!(
            ok("smtp://mail.example.org?tls=none"),
            "mail.example.org:25"
        );
        assert_eq!(ok("smtp://u:p@127.0.0.1:2525?tls=none"), "127.0.0.1:2525");
        assert_eq!(ok("smtp://u:p@[::1]:2525?tls=none"), "[::1]:2525");
        assert_eq!(ok("smtp://u%40x:p%2Fq@localhost?tls=none"), "localhost:25");

        for (url, expected) in [
            ("http://u:s3cret@h", "scheme"),
            ("smtp://u:s3cret@h?tls=maybe", "tls= takes"),
            ("smtps://u:s3cret@h?tls=none", "smtps:// takes no"),
            ("smtp://u:s3cret@h?port=1", "only query parameter"),
            ("smtp://u:s3cret@h/ehlo", "no path"),
            ("smtp://u:s3cret@mail.example.org?tls=none", "loopback"),
            ("smtp://u:s3cret@h:99999", "not a URL"),
            ("smtp://u:s3cret%zz@h", "bad %-escape"),
            ("s3cret", "not a URL"),
        ] {
            let message = smtp_transport(url, None)
                .err()
                .unwrap_or_else(|| panic!("{url} accepted"))
                .to_string();
            assert!(message.contains(expected), "{url}: {message}");
            assert!(!message.contains("s3cret"), "{url}: {message}");
        }
    }
}
