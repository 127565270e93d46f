//! Certificates made at test time with rcgen: a CA, server certificates for
//! `localhost` and 127.0.0.1, client certificates. They protect nothing and
//! are never written outside a test's temporary directory.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// A certificate and its private key, PEM-encoded.
#[derive(Clone)]
pub struct CertifiedKey {
    /// The certificate.
    pub cert: String,
    /// Its private key.
    pub key: String,
}

// The key is left out: even a test key is not for logs.
impl std::fmt::Debug for CertifiedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertifiedKey").finish_non_exhaustive()
    }
}

/// A certificate authority that signs server and client certificates.
pub struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    /// The CA certificate, PEM: what clients (or, for client certificates,
    /// the server) trust.
    pub cert: String,
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCa").finish_non_exhaustive()
    }
}

fn key_pair() -> KeyPair {
    KeyPair::generate().unwrap_or_else(|e| panic!("generate a test key: {e}"))
}

fn params(names: &[&str], common_name: &str) -> CertificateParams {
    let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    let mut params =
        CertificateParams::new(names).unwrap_or_else(|e| panic!("certificate names: {e}"));
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params
}

impl TestCa {
    /// A new CA whose certificate names `name`.
    pub fn new(name: &str) -> TestCa {
        let mut params = params(&[], name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = key_pair();
        let cert = params
            .self_signed(&key)
            .unwrap_or_else(|e| panic!("self-sign the test CA: {e}"));
        TestCa {
            issuer: Issuer::new(params, key),
            cert: cert.pem(),
        }
    }

    fn sign(
        &self,
        names: &[&str],
        common_name: &str,
        usage: ExtendedKeyUsagePurpose,
    ) -> CertifiedKey {
        let mut params = params(names, common_name);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![usage];
        params.use_authority_key_identifier_extension = true;
        let key = key_pair();
        let cert = params
            .signed_by(&key, &self.issuer)
            .unwrap_or_else(|e| panic!("sign a test certificate: {e}"));
        CertifiedKey {
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }

    /// A server certificate for `localhost` and 127.0.0.1.
    pub fn server(&self) -> CertifiedKey {
        self.sign(
            &["localhost", "127.0.0.1"],
            "localhost",
            ExtendedKeyUsagePurpose::ServerAuth,
        )
    }

    /// A client certificate naming `name`.
    pub fn client(&self, name: &str) -> CertifiedKey {
        self.sign(&[], name, ExtendedKeyUsagePurpose::ClientAuth)
    }
}

/// Writes `contents` to `dir/name` and returns the path, for flags that
/// take files.
pub fn write(dir: &Path, name: &str, contents: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    path
}
