//! Where the client finds its server and token: flags and environment first
//! (`--addr`/REEMPLOI_ADDR, `--token`/REEMPLOI_TOKEN), then the file
//! `reemploi login` writes, then the local default address.
//!
//! The file is `$REEMPLOI_CONFIG` when set, else
//! `$XDG_CONFIG_HOME/reemploi/config.toml`, else
//! `~/.config/reemploi/config.toml`. It holds a token, so it is written with
//! mode 0600 and its contents are never printed.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::CliError;

/// The address used when nothing else names one: a local `reemploi up`.
pub const DEFAULT_ADDR: &str = "http://127.0.0.1:50051";

/// What the configuration file holds.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// The server address, e.g. `https://reemploi.example.org:443`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addr: Option<String>,
    /// The bearer token: the access token of a signed-in session, or a
    /// token from elsewhere (`login --token`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// When the access token expires, in seconds since the Unix epoch
    /// (signed-in sessions only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_expires_at: Option<i64>,
    /// The session's refresh token, which renews the access token; it
    /// rotates on every use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// The email signed in with, to say whom to sign in as again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

impl FileConfig {
    /// The signed-in session the file holds, if any.
    pub fn session(&self, path: &Path) -> Option<StoredSession> {
        Some(StoredSession {
            path: path.to_owned(),
            access: nonempty(&self.token)?,
            expires_at: self.token_expires_at,
            refresh: nonempty(&self.refresh_token)?,
            email: nonempty(&self.email),
        })
    }

    /// Forgets the token and the session, keeping the address.
    pub fn forget_credentials(&mut self) {
        self.token = None;
        self.token_expires_at = None;
        self.refresh_token = None;
        self.email = None;
    }
}

/// The trimmed text of a field, unless blank.
fn nonempty(field: &Option<String>) -> Option<String> {
    field
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// A signed-in session read from the configuration file: the access token
/// is sent, and renewed with the refresh token when it has expired.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredSession {
    /// The file it came from, where renewed tokens are written back.
    pub path: PathBuf,
    /// The access token.
    pub access: String,
    /// When it expires, in seconds since the Unix epoch.
    pub expires_at: Option<i64>,
    /// The refresh token.
    pub refresh: String,
    /// The email signed in with.
    pub email: Option<String>,
}

// Hand-written so that a stray `{:?}` can never print a token.
impl std::fmt::Debug for StoredSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredSession")
            .field("path", &self.path)
            .field("expires_at", &self.expires_at)
            .field("email", &self.email)
            .finish_non_exhaustive()
    }
}

/// The resolved connection settings of one command.
#[derive(Clone)]
pub struct Settings {
    /// The server address.
    pub addr: String,
    /// The bearer token, if any, from a flag, the environment or a file
    /// without a session.
    pub token: Option<String>,
    /// The signed-in session of the file, when no token was given: its
    /// access token is sent and renewed as needed.
    pub session: Option<StoredSession>,
    /// TLS files for an https:// address.
    pub tls: ClientTls,
}

impl Settings {
    /// The same server, without any credentials: for the calls that need
    /// none (sign-in, sign-up, invitations, password resets), which a stale
    /// token would only get refused.
    pub fn anonymous(&self) -> Settings {
        Settings {
            addr: self.addr.clone(),
            token: None,
            session: None,
            tls: self.tls.clone(),
        }
    }
}

/// The files a client uses for TLS (`--ca`, `--client-cert`,
/// `--client-key`); none of them is read before a connection is opened.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ClientTls {
    /// CA certificate(s) to trust instead of the web PKI roots.
    pub ca: Option<PathBuf>,
    /// Client certificate for mutual TLS.
    pub client_cert: Option<PathBuf>,
    /// Its private key.
    pub client_key: Option<PathBuf>,
}

impl ClientTls {
    /// Whether any TLS file is named.
    pub fn is_set(&self) -> bool {
        self.ca.is_some() || self.client_cert.is_some() || self.client_key.is_some()
    }
}

// Hand-written so that a stray `{:?}` can never print the token.
impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("addr", &crate::client::display_addr(&self.addr))
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .field("session", &self.session)
            .field("tls", &self.tls)
            .finish()
    }
}

/// The configuration file's path, from the environment; `None` when there is
/// no home directory to put it in.
pub fn path() -> Option<PathBuf> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(file) = var("REEMPLOI_CONFIG") {
        return Some(PathBuf::from(file));
    }
    // The XDG spec says a relative XDG_CONFIG_HOME is invalid and ignored.
    if let Some(dir) = var("XDG_CONFIG_HOME").map(PathBuf::from)
        && dir.is_absolute()
    {
        return Some(dir.join("reemploi").join("config.toml"));
    }
    var("HOME").map(|home| {
        PathBuf::from(home)
            .join(".config")
            .join("reemploi")
            .join("config.toml")
    })
}

/// Reads the file; a missing file is an empty configuration.
pub fn load(path: &Path) -> Result<FileConfig, CliError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(FileConfig::default()),
        Err(e) => {
            return Err(CliError::Config {
                path: path.to_owned(),
                reason: e.to_string(),
            });
        }
    };
    // toml's errors quote the offending line, which may be the token: keep
    // only the position.
    const EXPECTED: &str = "expected `addr = \"...\"` and `token = \"...\"` (as `reemploi login` \
                            writes them)";
    toml::from_str(&text).map_err(|e| CliError::Config {
        path: path.to_owned(),
        reason: match e.span() {
            Some(span) => format!("not valid TOML (byte {}); {EXPECTED}", span.start),
            None => format!("not valid TOML; {EXPECTED}"),
        },
    })
}

/// Writes the file with mode 0600 (created in a temporary file beside it,
/// then renamed, so a reader never sees half a file).
pub fn save(path: &Path, config: &FileConfig) -> Result<(), CliError> {
    let fail = |reason: String| CliError::Config {
        path: path.to_owned(),
        reason,
    };
    let text = toml::to_string(config).map_err(|e| fail(e.to_string()))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| fail(format!("create its directory: {e}")))?;
    }
    let tmp = path.with_extension("toml.tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp).map_err(|e| fail(e.to_string()))?;
    // A leftover temporary file may predate us with wider permissions.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(|e| fail(e.to_string()))?;
    }
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| fail(e.to_string()))?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(|e| fail(e.to_string()))
}

/// Resolves the address and token of a command: flag or environment (clap
/// has merged them), then the file (its session, or its token), then the
/// default address. TLS files come from flags or environment only.
pub fn resolve(
    addr: Option<&str>,
    token: Option<&str>,
    tls: ClientTls,
) -> Result<Settings, CliError> {
    let (file, path) = match path() {
        Some(p) => (load(&p)?, Some(p)),
        None => (FileConfig::default(), None),
    };
    let nonempty = |s: Option<&str>| {
        s.map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let token = nonempty(token);
    // A token given now wins over the stored session, which is then unused.
    let session = match (&token, &path) {
        (None, Some(path)) => file.session(path),
        _ => None,
    };
    Ok(Settings {
        addr: nonempty(addr)
            .or_else(|| nonempty(file.addr.as_deref()))
            .unwrap_or_else(|| DEFAULT_ADDR.to_owned()),
        token: match (&token, &session) {
            (Some(t), _) => Some(t.clone()),
            (None, Some(_)) => None,
            (None, None) => nonempty(file.token.as_deref()),
        },
        session,
        tls,
    })
}

/// An exclusive lock on the configuration file, held while its session is
/// read, renewed and written back: two commands renewing the same refresh
/// token at once would have the server see it reused and end the session.
#[derive(Debug)]
pub struct FileLock {
    _file: std::fs::File,
}

/// Takes [`FileLock`] on `path` (waiting for another reemploi process to
/// release it), through a `.lock` file beside it.
pub fn lock(path: &Path) -> Result<FileLock, CliError> {
    let fail = |reason: String| CliError::Config {
        path: path.to_owned(),
        reason,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| fail(format!("create its directory: {e}")))?;
    }
    let mut name = path.file_name().unwrap_or_default().to_owned();
    name.push(".lock");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let file = options
        .open(path.with_file_name(name))
        .map_err(|e| fail(format!("lock: {e}")))?;
    file.lock().map_err(|e| fail(format!("lock: {e}")))?;
    Ok(FileLock { _file: file })
}

/// [`lock`] off the async threads, since it may wait for another process.
pub async fn lock_async(path: &Path) -> Result<FileLock, CliError> {
    let owned = path.to_owned();
    tokio::task::spawn_blocking(move || lock(&owned))
        .await
        .map_err(|e| CliError::Config {
            path: path.to_owned(),
            reason: format!("lock: {e}"),
        })?
}

/// Changes the file under its lock: loads it, applies `change`, saves it.
pub async fn update(path: &Path, change: impl FnOnce(&mut FileConfig)) -> Result<(), CliError> {
    let _lock = lock_async(path).await?;
    let mut config = load(path)?;
    change(&mut config);
    save(path, &config)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn saves_with_mode_0600_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("config.toml");
        let config = FileConfig {
            addr: Some("http://example.invalid:1".to_owned()),
            token: Some("t0k3n".to_owned()),
            token_expires_at: Some(1_700_000_000),
            refresh_token: Some("rt_x".to_owned()),
            email: Some("a@example.org".to_owned()),
        };
        save(&path, &config).unwrap();
        assert_eq!(load(&path).unwrap(), config);
        let session = config.session(&path).unwrap();
        assert_eq!(session.refresh, "rt_x");
        assert!(!format!("{session:?}").contains("t0k3n"));
        let mut forgotten = config.clone();
        forgotten.forget_credentials();
        assert_eq!(forgotten.session(&path), None);
        assert_eq!(forgotten.addr, config.addr);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(
            load(&dir.path().join("absent")).unwrap(),
            FileConfig::default()
        );
    }

    #[test]
    fn a_bad_file_error_does_not_quote_its_contents() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, "token = secret-without-quotes\n").unwrap();
        let err = load(&path).unwrap_err().to_string();
        assert!(!err.contains("secret-without-quotes"), "{err}");
    }
}
