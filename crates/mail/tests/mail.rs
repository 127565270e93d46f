//! The mailer end to end: mail written to `.eml` files without a relay, and
//! mail sent through a real SMTP server started here (aiosmtpd, a Python
//! package; installed with pip when missing): plaintext, authentication,
//! STARTTLS and TLS with a CA made at test time. Each received message is
//! parsed back to check its headers, both parts and the link.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc;
use std::time::Duration;

use mail_parser::{Address, MessageParser, MimeHeaders};
use reemploi_mail::{MAIL_DIR, Mail, MailArgs, MailError, Mailer, Sent};

const TO: &str = "Élodie Martin <elodie@example.org>";
const SUBJECT: &str = "Réinitialisation de votre mot de passe";
const FROM: &str = "reemploi <no-reply@reemploi.example>";
// Long, with `=` and `&`: what quoted-printable or a careless HTML
// rendering would break.
const URL: &str = "https://reemploi.example/connexion/reinitialiser?jeton=\
                   Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGx5d2FsZG9mcmVk&suite=%2Flots";
const PASSWORD: &str = "s3cr3t p@ss/wörd";

fn reset_mail() -> Mail {
    Mail::with_link(
        TO,
        SUBJECT,
        "Bonjour,\n\nVous avez demandé à réinitialiser votre mot de passe sur reemploi.\n\
         Ce lien est valable une heure.",
        "Choisir un nouveau mot de passe",
        URL,
    )
}

fn args(smtp_url: Option<String>, ca: Option<&Path>) -> MailArgs {
    MailArgs {
        smtp_url,
        smtp_ca_file: ca.map(Path::to_owned),
        mail_from: FROM.to_owned(),
    }
}

/// Checks a received or written message: headers, both parts, the link.
fn check_message(raw: &[u8]) {
    let message = MessageParser::default()
        .parse(raw)
        .unwrap_or_else(|| panic!("unparsable message:\n{}", String::from_utf8_lossy(raw)));

    let headers_end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a blank line ends the headers");
    assert!(
        raw[..headers_end].is_ascii(),
        "headers must be ASCII (non-ASCII encoded per RFC 2047)"
    );

    assert_eq!(message.subject(), Some(SUBJECT));
    let single = |address: Option<&Address>| {
        let address = address.and_then(Address::first).expect("one address");
        (
            address.name().map(str::to_owned),
            address.address().map(str::to_owned),
        )
    };
    assert_eq!(
        single(message.from()),
        (
            Some("reemploi".to_owned()),
            Some("no-reply@reemploi.example".to_owned())
        )
    );
    assert_eq!(
        single(message.to()),
        (
            Some("Élodie Martin".to_owned()),
            Some("elodie@example.org".to_owned())
        )
    );
    assert!(message.date().is_some(), "a Date header");
    let message_id = message.message_id().expect("a Message-ID");
    assert!(message_id.ends_with("@reemploi.example"), "{message_id}");
    assert!(
        message
            .header_raw("Auto-Submitted")
            .is_some_and(|v| v.trim() == "auto-generated")
    );

    let content_type = message.content_type().expect("a Content-Type");
    assert_eq!(
        (content_type.ctype(), content_type.subtype()),
        ("multipart", Some("alternative"))
    );
    let text = message
        .body_text(0)
        .expect("a plain-text part")
        .replace("\r\n", "\n");
    assert!(text.contains(&format!("Choisir un nouveau mot de passe\u{a0}:\n{URL}\n")));
    assert!(text.contains("Vous avez demandé à réinitialiser"));
    let html = message
        .body_html(0)
        .expect("an HTML part")
        .replace("\r\n", "\n");
    let href = format!("href=\"{}\"", URL.replace('&', "&amp;"));
    assert!(html.contains(&href), "{html}");
    assert!(html.contains(">Choisir un nouveau mot de passe</a>"));
    assert!(html.contains("<p>Vous avez demandé à réinitialiser votre mot de passe sur reemploi.<br>\nCe lien est valable une heure.</p>"));
    for part in message.parts.iter().skip(1) {
        let charset = part
            .content_type()
            .and_then(|c| c.attribute("charset"))
            .map(str::to_ascii_lowercase);
        assert_eq!(charset.as_deref(), Some("utf-8"));
    }
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn mailer_is_cheap_to_share() {
    fn shared<T: Clone + Send + Sync + 'static>() {}
    shared::<Mailer>();
    let debug = format!("{:?}", args(Some(format!("smtp://u:{PASSWORD}@h")), None));
    assert!(!debug.contains(PASSWORD), "{debug}");
}

#[test]
fn flags() {
    use clap::{CommandFactory, Parser};
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        mail: MailArgs,
    }
    let cli = Cli::try_parse_from([
        "reemploi",
        "--smtp-url",
        "smtps://u:p@mail.example.org",
        "--smtp-ca-file",
        "/etc/ca.pem",
    ])
    .expect("parse");
    assert_eq!(
        cli.mail.smtp_url.as_deref(),
        Some("smtps://u:p@mail.example.org")
    );
    assert_eq!(cli.mail.mail_from, reemploi_mail::DEFAULT_MAIL_FROM);
    assert!(
        Cli::try_parse_from(["reemploi", "--smtp-ca-file", "/etc/ca.pem"]).is_err(),
        "a CA file without a relay is a mistake"
    );
    let help = Cli::command().render_help().to_string();
    for expected in ["Mail:", "--smtp-url", "REEMPLOI_SMTP_URL", "--mail-from"] {
        assert!(help.contains(expected), "{expected} in:\n{help}");
    }
}

#[tokio::test]
async fn without_smtp_each_mail_is_an_eml_file() {
    let data = tempfile::tempdir().expect("temp dir");
    let data_dir = data.path().join("data");
    let mailer = Mailer::new(&args(None, None), &data_dir).expect("mailer");
    let mail_dir = data_dir.join(MAIL_DIR);
    #[cfg(unix)]
    assert_eq!(mode(&mail_dir), 0o700);

    let sent = mailer.send(&reset_mail()).await.expect("send");
    let Sent::File { path } = sent else {
        panic!("expected a file, got {sent:?}")
    };
    assert_eq!(path.parent(), Some(mail_dir.as_path()));
    let name = path.file_name().and_then(|n| n.to_str()).expect("a name");
    assert!(
        name.len() == "20260314T091502Z-1a2b3c4d.eml".len()
            && name.ends_with(".eml")
            && name.as_bytes()[8] == b'T'
            && name.as_bytes()[15] == b'Z',
        "{name}"
    );
    #[cfg(unix)]
    assert_eq!(mode(&path), 0o600);
    let raw = std::fs::read(&path).expect("read the .eml");
    check_message(&raw);
    // Written 8-bit, so a person reading the file sees the link whole, on
    // its own line, and the French as it is.
    let text = String::from_utf8(raw).expect("UTF-8");
    assert!(text.contains(&format!("\r\n{URL}\r\n")), "{text}");
    assert!(text.contains("Vous avez demandé"));

    // A second mail is a second file; a clone writes to the same place.
    let again = mailer.clone().send(&reset_mail()).await.expect("send");
    assert_ne!(again, Sent::File { path: path.clone() });
    assert_eq!(std::fs::read_dir(&mail_dir).expect("list").count(), 2);

    // A line break in the subject cannot add a header.
    let mut hostile = reset_mail();
    hostile.subject = "Bonjour\r\nBcc: intrus@example.org".to_owned();
    let Sent::File { path } = mailer.send(&hostile).await.expect("send") else {
        panic!("expected a file")
    };
    let raw = std::fs::read(&path).expect("read");
    let parsed = MessageParser::default().parse(&raw).expect("parsable");
    assert!(parsed.bcc().is_none(), "{}", String::from_utf8_lossy(&raw));

    // A bad recipient is refused, and nothing is written.
    let mut bad = reset_mail();
    bad.to = "pas une adresse".to_owned();
    let err = mailer.send(&bad).await.expect_err("refused");
    assert!(matches!(err, MailError::Recipient { .. }), "{err}");
    assert_eq!(std::fs::read_dir(&mail_dir).expect("list").count(), 3);

    // A bad sender is refused when the mailer is built.
    let mut bad_from = args(None, None);
    bad_from.mail_from = "reemploi".to_owned();
    let err = Mailer::new(&bad_from, &data_dir).expect_err("refused");
    assert!(err.to_string().contains("--mail-from"), "{err}");
}

#[tokio::test]
async fn smtp_relay_receives_the_mail() {
    let relay = Relay::start(RelayMode::Plain, None, None);
    let url = format!("smtp://127.0.0.1:{}?tls=none", relay.port);
    let data = tempfile::tempdir().expect("temp dir");
    let mailer = Mailer::new(&args(Some(url), None), data.path()).expect("mailer");
    assert!(
        !data.path().join(MAIL_DIR).exists(),
        "no mail directory with a relay"
    );

    let sent = mailer.send(&reset_mail()).await.expect("send");
    assert_eq!(
        sent,
        Sent::Smtp {
            relay: format!("127.0.0.1:{}", relay.port)
        }
    );
    let received = relay.received();
    assert_eq!(received.len(), 1);
    let (envelope, raw) = &received[0];
    assert_eq!(envelope["mail_from"], "no-reply@reemploi.example");
    assert_eq!(envelope["rcpt_tos"], "elodie@example.org");
    assert_eq!(envelope["tls"], "no");
    check_message(raw);

    // STARTTLS is the default and required: a relay that does not offer it
    // gets nothing, rather than the mail in clear.
    let url = format!("smtp://127.0.0.1:{}", relay.port);
    let mailer = Mailer::new(&args(Some(url), None), data.path()).expect("mailer");
    let err = mailer.send(&reset_mail()).await.expect_err("no STARTTLS");
    assert!(matches!(err, MailError::Smtp { .. }), "{err}");
    assert_eq!(relay.received().len(), 1);
}

#[tokio::test]
async fn smtp_authentication() {
    let relay = Relay::start(RelayMode::Plain, Some(("mailer", PASSWORD)), None);
    let encoded: String = PASSWORD
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let data = tempfile::tempdir().expect("temp dir");
    let with = |user: &str, password: &str| {
        let url = format!("smtp://{user}:{password}@127.0.0.1:{}?tls=none", relay.port);
        Mailer::new(&args(Some(url), None), data.path()).expect("mailer")
    };

    with("mailer", &encoded)
        .send(&reset_mail())
        .await
        .expect("authenticated send");
    let received = relay.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].0["login"], "mailer");
    check_message(&received[0].1);

    // A wrong password is refused with the relay's answer, which never
    // repeats a password; nor does the error.
    let err = with("mailer", "wrong%20one")
        .send(&reset_mail())
        .await
        .expect_err("bad password");
    let message = err.to_string();
    assert!(message.contains("535"), "{message}");
    assert!(
        !message.contains("wrong") && !message.contains("s3cr3t"),
        "{message}"
    );
    // Without credentials the relay refuses the mail.
    let url = format!("smtp://127.0.0.1:{}?tls=none", relay.port);
    let err = Mailer::new(&args(Some(url), None), data.path())
        .expect("mailer")
        .send(&reset_mail())
        .await
        .expect_err("unauthenticated");
    assert!(err.to_string().contains("530"), "{err}");
    assert_eq!(relay.received().len(), 1);
}

#[tokio::test]
async fn starttls_and_tls_with_a_private_ca() {
    let certs = tempfile::tempdir().expect("temp dir");
    let (ca, cert, key) = certificates(certs.path());

    let relay = Relay::start(
        RelayMode::StartTls,
        Some(("mailer", "motdepasse")),
        Some((&cert, &key)),
    );
    let url = format!("smtp://mailer:motdepasse@127.0.0.1:{}", relay.port);
    let data = tempfile::tempdir().expect("temp dir");
    let mailer = Mailer::new(&args(Some(url.clone()), Some(&ca)), data.path()).expect("mailer");
    mailer
        .send(&reset_mail())
        .await
        .expect("send over STARTTLS");
    let received = relay.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].0["login"], "mailer");
    assert_ne!(received[0].0["tls"], "no");
    check_message(&received[0].1);

    // Without the CA the relay's certificate is not trusted: nothing sent.
    let untrusting = Mailer::new(&args(Some(url), None), data.path()).expect("mailer");
    let err = untrusting
        .send(&reset_mail())
        .await
        .expect_err("untrusted certificate");
    assert!(err.to_string().contains("UnknownIssuer"), "{err}");
    assert_eq!(relay.received().len(), 1);

    // TLS from the first byte (smtps://).
    let relay = Relay::start(
        RelayMode::Tls,
        Some(("mailer", "motdepasse")),
        Some((&cert, &key)),
    );
    let url = format!("smtps://mailer:motdepasse@127.0.0.1:{}", relay.port);
    let mailer = Mailer::new(&args(Some(url), Some(&ca)), data.path()).expect("mailer");
    mailer.send(&reset_mail()).await.expect("send over TLS");
    let received = relay.received();
    assert_eq!(received.len(), 1);
    assert_ne!(received[0].0["tls"], "no");
    check_message(&received[0].1);

    // A CA file without a certificate is refused when the mailer is built.
    let empty = certs.path().join("empty.pem");
    std::fs::write(&empty, "").expect("write");
    let err = Mailer::new(
        &args(Some("smtps://h".to_owned()), Some(&empty)),
        data.path(),
    )
    .expect_err("no certificate");
    assert!(err.to_string().contains("--smtp-ca-file"), "{err}");
}

// --- the relay -------------------------------------------------------------

/// The relay's Python side: one aiosmtpd server on a free port of
/// 127.0.0.1 (printed on stdout once listening), which saves each message
/// as `NNN.eml` (the bytes received) beside `NNN.env` (envelope, login and
/// TLS version, one `key=value` a line) before it answers 250.
const RELAY_PY: &str = r#"
import asyncio, os, ssl, sys
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

mode, out, user, password, cert, key = sys.argv[1:7]

class Save:
    def __init__(self):
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        base = os.path.join(out, "%03d" % self.count)
        ssl_object = server.transport.get_extra_info("ssl_object")
        login = getattr(session.auth_data, "login", None)
        with open(base + ".env.tmp", "w") as f:
            f.write("mail_from=%s\n" % envelope.mail_from)
            f.write("rcpt_tos=%s\n" % ",".join(envelope.rcpt_tos))
            f.write("login=%s\n" % (login.decode() if login else ""))
            f.write("tls=%s\n" % (ssl_object.version() if ssl_object else "no"))
        with open(base + ".eml.tmp", "wb") as f:
            f.write(envelope.original_content)
        os.rename(base + ".env.tmp", base + ".env")
        os.rename(base + ".eml.tmp", base + ".eml")
        return "250 OK"

def authenticator(server, session, envelope, mechanism, auth_data):
    ok = (isinstance(auth_data, LoginPassword)
          and auth_data.login == user.encode()
          and auth_data.password == password.encode())
    # handled=False: aiosmtpd then answers 535 itself.
    return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

context = None
if mode != "plain":
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

async def main():
    handler = Save()
    server = await asyncio.get_running_loop().create_server(
        lambda: SMTP(
            handler,
            hostname="relay.test",
            tls_context=context if mode == "starttls" else None,
            require_starttls=mode == "starttls",
            authenticator=authenticator if user else None,
            auth_required=bool(user),
            # aiosmtpd only sees STARTTLS's TLS, not that of a TLS
            # listener: it must not ask for it there.
            auth_require_tls=mode == "starttls",
        ),
        host="127.0.0.1",
        port=0,
        ssl=context if mode == "tls" else None,
    )
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()

asyncio.run(main())
"#;

#[derive(Debug, Clone, Copy)]
enum RelayMode {
    Plain,
    StartTls,
    Tls,
}

/// An aiosmtpd relay; the process is killed when this is dropped.
struct Relay {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Relay {
    fn start(mode: RelayMode, auth: Option<(&str, &str)>, cert: Option<(&Path, &Path)>) -> Relay {
        ensure_aiosmtpd();
        let dir = tempfile::tempdir().expect("temp dir");
        let script = dir.path().join("relay.py");
        std::fs::write(&script, RELAY_PY).expect("write relay.py");
        let inbox = dir.path().join("inbox");
        std::fs::create_dir(&inbox).expect("inbox");
        let log = std::fs::File::create(dir.path().join("relay.log")).expect("relay.log");
        let (user, password) = auth.unwrap_or_default();
        let path = |p: Option<&Path>| p.map(|p| p.display().to_string()).unwrap_or_default();
        let mut child = Command::new("python3")
            .arg(&script)
            .arg(match mode {
                RelayMode::Plain => "plain",
                RelayMode::StartTls => "starttls",
                RelayMode::Tls => "tls",
            })
            .arg(&inbox)
            .args([user, password])
            .arg(path(cert.map(|c| c.0)))
            .arg(path(cert.map(|c| c.1)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("start python3");

        // The port comes on stdout once the server listens; a reader thread
        // lets the wait have a deadline.
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let port = rx
            .recv_timeout(Duration::from_secs(20))
            .ok()
            .and_then(|line| line.trim().parse::<u16>().ok());
        let mut relay = Relay {
            child,
            port: 0,
            dir,
        };
        match port {
            Some(port) => relay.port = port,
            None => {
                let _ = relay.child.kill();
                let _ = relay.child.wait();
                let log =
                    std::fs::read_to_string(relay.dir.path().join("relay.log")).unwrap_or_default();
                panic!("the aiosmtpd relay did not start within 20 s:\n{log}");
            }
        }
        relay
    }

    /// The messages received so far, in order: envelope facts and bytes.
    fn received(&self) -> Vec<(std::collections::BTreeMap<String, String>, Vec<u8>)> {
        let inbox = self.dir.path().join("inbox");
        let mut names: Vec<PathBuf> = std::fs::read_dir(&inbox)
            .expect("inbox")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
            .collect();
        names.sort();
        names
            .into_iter()
            .map(|eml| {
                let env = std::fs::read_to_string(eml.with_extension("env")).expect("envelope");
                let facts = env
                    .lines()
                    .filter_map(|l| l.split_once('='))
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect();
                (facts, std::fs::read(&eml).expect("message"))
            })
            .collect()
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Makes sure `python3` can import aiosmtpd, installing it with pip once
/// (scripts/test installs it beforehand; this serves a bare `cargo test`).
fn ensure_aiosmtpd() {
    static READY: OnceLock<Result<(), String>> = OnceLock::new();
    let ready = READY.get_or_init(|| {
        let importable = || {
            Command::new("python3")
                .args(["-c", "import aiosmtpd"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        if importable() {
            return Ok(());
        }
        let pip = |extra: &[&str]| {
            Command::new("python3")
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                ])
                .args(extra)
                .arg("aiosmtpd")
                .env("PIP_ROOT_USER_ACTION", "ignore")
                .output()
        };
        // A Python managed by Debian (PEP 668) wants the explicit flag.
        let mut output = pip(&[]);
        if !importable() {
            output = pip(&["--break-system-packages"]);
        }
        if importable() {
            Ok(())
        } else {
            Err(match output {
                Ok(out) => String::from_utf8_lossy(&out.stderr).into_owned(),
                Err(e) => format!("cannot run python3: {e}"),
            })
        }
    });
    if let Err(why) = ready {
        panic!(
            "these tests need Python 3 with the aiosmtpd package; \
             `python3 -m pip install aiosmtpd` failed:\n{why}"
        );
    }
}

/// A CA, and a certificate for 127.0.0.1 it signed, written to `dir`:
/// (CA certificate, server certificate, server key).
fn certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose,
    };
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("params");
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "reemploi test mail CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_key = KeyPair::generate().expect("key");
    let ca_cert = ca_params.self_signed(&ca_key).expect("self-sign");
    let issuer = Issuer::new(ca_params, ca_key);

    let mut params = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .expect("params");
    params
        .distinguished_name
        .push(DnType::CommonName, "relay.test");
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    let key = KeyPair::generate().expect("key");
    let cert = params.signed_by(&key, &issuer).expect("sign");

    let write = |name: &str, contents: String| {
        let path = dir.join(name);
        std::fs::write(&path, contents).expect("write");
        path
    };
    (
        write("ca.pem", ca_cert.pem()),
        write("relay.pem", cert.pem()),
        write("relay.key", key.serialize_pem()),
    )
}
