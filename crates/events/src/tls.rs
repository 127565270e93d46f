//! TLS towards NATS: the CA that signed the servers' certificates and the
//! client certificate that a server verifying clients asks for. The files
//! are read and checked before the first connection, because async-nats
//! reads them only while connecting and a service waits for NATS as long
//! as it takes: a typo would otherwise look like an unreachable cluster.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_nats::ConnectOptions;
use async_nats::rustls::pki_types::pem::PemObject;
use async_nats::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use async_nats::rustls::{self, ClientConfig, RootCertStore};

use crate::BusError;

/// TLS files of a NATS client. With any of them set, the client refuses a
/// server that does not speak TLS.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NatsTls {
    /// PEM file with the CA certificate(s) that sign the servers'
    /// certificates; the system's roots when absent.
    pub ca: Option<PathBuf>,
    /// PEM file with the client certificate (chain, leaf first), for
    /// servers that verify clients.
    pub cert: Option<PathBuf>,
    /// PEM file with the private key of `cert`. Its contents are never
    /// logged nor put in an error.
    pub key: Option<PathBuf>,
}

impl NatsTls {
    /// Whether TLS is asked for.
    pub fn is_enabled(&self) -> bool {
        self.ca.is_some() || self.cert.is_some() || self.key.is_some()
    }

    /// How the start-up log names the mode.
    pub fn mode(&self) -> &'static str {
        match (self.is_enabled(), self.cert.is_some()) {
            (false, _) => "as the URL says",
            (true, false) => "required",
            (true, true) => "required, with a client certificate",
        }
    }

    /// Reads and checks the files: a CA that rustls can trust, a
    /// certificate and the key that belongs to it. A [`BusError::Config`]
    /// naming the flag and the file otherwise.
    pub fn check(&self) -> Result<(), BusError> {
        let mut roots = RootCertStore::empty();
        if let Some(path) = &self.ca {
            for cert in certificates("--nats-ca", path)? {
                roots.add(cert).map_err(|e| {
                    config(format!(
                        "--nats-ca {}: not a usable CA certificate: {e}",
                        path.display()
                    ))
                })?;
            }
        }
        let (cert_path, key_path) = match (&self.cert, &self.key) {
            (None, None) => return Ok(()),
            (Some(_), None) => {
                return Err(config(
                    "--nats-cert needs --nats-key (REEMPLOI_NATS_KEY), the certificate's private key"
                        .to_owned(),
                ));
            }
            (None, Some(_)) => {
                return Err(config(
                    "--nats-key needs --nats-cert (REEMPLOI_NATS_CERT), the certificate it belongs to"
                        .to_owned(),
                ));
            }
            (Some(cert), Some(key)) => (cert, key),
        };
        let chain = certificates("--nats-cert", cert_path)?;
        let key = private_key(key_path)?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        // Building a client configuration matches the key to the
        // certificate, as the handshake would, but now.
        ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| config(format!("TLS towards NATS: {e}")))?
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .map_err(|e| {
                config(format!(
                    "--nats-cert {} / --nats-key {}: {e}",
                    cert_path.display(),
                    key_path.display()
                ))
            })?;
        Ok(())
    }

    /// `options` with these files and TLS required when any is set.
    pub(crate) fn apply(&self, mut options: ConnectOptions) -> ConnectOptions {
        if !self.is_enabled() {
            return options;
        }
        options = options.require_tls(true);
        if let Some(ca) = &self.ca {
            options = options.add_root_certificates(ca.clone());
        }
        if let (Some(cert), Some(key)) = (&self.cert, &self.key) {
            options = options.add_client_certificate(cert.clone(), key.clone());
        }
        options
    }
}

fn config(message: String) -> BusError {
    BusError::Config(message)
}

fn read(flag: &str, path: &Path) -> Result<Vec<u8>, BusError> {
    std::fs::read(path).map_err(|e| config(format!("{flag}: cannot read {}: {e}", path.display())))
}

/// The certificates of the PEM file `path`, at least one.
fn certificates(flag: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>, BusError> {
    let pem = read(flag, path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| config(format!("{flag} {}: unreadable PEM: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(config(format!(
            "{flag} {}: no PEM certificate in it",
            path.display()
        )));
    }
    Ok(certs)
}

/// The private key of the PEM file `path`. The parser's own message is
/// left out: nothing of a key file goes into an error.
fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, BusError> {
    let pem = read("--nats-key", path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|_| {
        config(format!(
            "--nats-key {}: no private key in it (PEM: PKCS#8, PKCS#1 or SEC1)",
            path.display()
        ))
    })
}
