//! The etcd TLS files, checked before EAL starts: a file that is missing,
//! garbage, swapped with another, encrypted, or a key that does not belong
//! to its certificate would otherwise show only as TLS handshakes failing
//! forever, "etcd unreachable", while vxgate waits for its config.
//!
//! The files are parsed as tonic (the etcd client's transport) parses them
//! (`rustls-pemfile`) and the key is loaded by the same rustls crypto
//! provider, so what passes here is what the client can use.
use std::io::{Error, ErrorKind, Read};
use std::path::Path;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;

use super::{file, Config, ConfigError};

/// Largest PEM file read (a full public CA bundle is about 250 KiB).
const MAX_PEM_BYTES: u64 = 4 << 20;
const CERT_BEGIN: &str = "-----BEGIN CERTIFICATE-----";
const KEY_BEGINS: [&str; 3] = [
    "-----BEGIN PRIVATE KEY-----",
    "-----BEGIN RSA PRIVATE KEY-----",
    "-----BEGIN EC PRIVATE KEY-----",
];
const FIX_PATH: &str = "check the path and that vxgate's user may read it";
const FIX_KEY_PAIR: &str = "give the private key the client certificate was issued for \
    (`openssl x509 -noout -pubkey -in CERT` and `openssl pkey -pubout -in KEY` must print the same key)";

pub(super) fn check_files(config: &Config) -> Result<(), ConfigError> {
    let Some(tls) = &config.etcd.tls else {
        return Ok(());
    };
    // Every file's shape first, so a swapped pair is reported as swapped,
    // then what is inside.
    let ca = match &tls.ca_file {
        Some(path) => Some((path, read_pem_file("etcd-cafile", path)?)),
        None => None,
    };
    let identity = match &tls.identity {
        Some(id) => Some((
            (
                &id.cert_file,
                read_pem_file("etcd-certfile", &id.cert_file)?,
            ),
            (&id.key_file, read_pem_file("etcd-keyfile", &id.key_file)?),
        )),
        None => None,
    };
    if let Some((path, bytes)) = ca {
        check_ca(path, &bytes)?;
    }
    if let Some(((cert_path, cert), (key_path, key))) = identity {
        check_identity(cert_path, &cert, key_path, &key)?;
    }
    Ok(())
}

fn unusable(key: &'static str, path: &Path, problem: String, fix: &'static str) -> ConfigError {
    ConfigError::UnusableFile {
        key,
        path: path.to_owned(),
        source: Error::new(ErrorKind::InvalidData, problem),
        fix,
    }
}

/// A readable regular file with the PEM block `key` needs; its bytes.
fn read_pem_file(key: &'static str, path: &Path) -> Result<Vec<u8>, ConfigError> {
    let io_err = |source: Error, fix: &'static str| ConfigError::UnusableFile {
        key,
        path: path.to_owned(),
        source,
        fix,
    };
    // Checked before opening: opening a FIFO would block.
    let meta = std::fs::metadata(path).map_err(|e| io_err(e, FIX_PATH))?;
    if !meta.is_file() {
        return Err(io_err(
            Error::new(
                ErrorKind::InvalidInput,
                format!("not a regular file (it is {})", file::kind_of(&meta)),
            ),
            "give the path of the PEM file itself",
        ));
    }
    let f = std::fs::File::open(path).map_err(|e| io_err(e, FIX_PATH))?;
    let mut bytes = Vec::new();
    f.take(MAX_PEM_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| io_err(e, FIX_PATH))?;
    if bytes.len() as u64 > MAX_PEM_BYTES {
        return Err(io_err(
            Error::new(
                ErrorKind::InvalidInput,
                format!("larger than {} MiB", MAX_PEM_BYTES >> 20),
            ),
            "give the PEM file, not an archive or a disk image",
        ));
    }
    let text = String::from_utf8_lossy(&bytes);
    let has_cert = text.contains(CERT_BEGIN);
    let has_key = KEY_BEGINS.iter().any(|b| text.contains(b));
    let invalid = |problem: String, fix| Err(unusable(key, path, problem, fix));
    match key {
        "etcd-keyfile" if !has_key => invalid(
            if text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
                "the private key is encrypted (`-----BEGIN ENCRYPTED PRIVATE KEY-----`); vxgate cannot ask for a passphrase".to_owned()
            } else if has_cert {
                "it holds a certificate, not a `-----BEGIN ... PRIVATE KEY-----` block".to_owned()
            } else {
                "no `-----BEGIN PRIVATE KEY-----` (or RSA / EC PRIVATE KEY) block: not a PEM private key".to_owned()
            },
            if has_cert {
                "are etcd-certfile and etcd-keyfile swapped? give the client certificate's PEM private key"
            } else {
                "give the client certificate's unencrypted PEM private key (e.g. from `openssl pkey -in KEY -out KEY.pem`)"
            },
        ),
        "etcd-certfile" | "etcd-cafile" if !has_cert => invalid(
            if has_key {
                format!("it holds a private key, not a `{CERT_BEGIN}` block")
            } else {
                format!("no `{CERT_BEGIN}` block: not a PEM certificate")
            },
            if key == "etcd-cafile" {
                "give the PEM CA certificate(s) that signed the etcd servers' certificates"
            } else if has_key {
                "are etcd-certfile and etcd-keyfile swapped? give the PEM client certificate"
            } else {
                "give the PEM client certificate (convert DER with `openssl x509 -inform der -in CERT -out CERT.pem`)"
            },
        ),
        _ => Ok(bytes),
    }
}

/// The certificates of a PEM file, each decoded from base64.
fn pem_certs(
    key: &'static str,
    path: &Path,
    bytes: &[u8],
) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    rustls_pemfile::certs(&mut &bytes[..])
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            unusable(
                key,
                path,
                format!("a certificate block is not valid PEM ({e})"),
                "the file is damaged: export the certificate again",
            )
        })
}

/// At least one CA certificate that rustls can trust, and none it cannot
/// read (a damaged bundle would silently trust less than meant).
fn check_ca(path: &Path, bytes: &[u8]) -> Result<(), ConfigError> {
    let certs = pem_certs("etcd-cafile", path, bytes)?;
    let mut roots = rustls::RootCertStore::empty();
    let (_, bad) = roots.add_parsable_certificates(certs);
    if bad > 0 || roots.is_empty() {
        return Err(unusable(
            "etcd-cafile",
            path,
            format!("{bad} of its certificates cannot be read as X.509 CA certificates"),
            "the file is damaged: give the PEM CA certificate(s) that signed the etcd servers' certificates",
        ));
    }
    Ok(())
}

/// What rustls (under tonic) demands of a client identity before it
/// connects (`CertifiedKey::from_der`): the key loads with the crypto
/// provider, the certificate parses, and the key is the certificate's
/// unless the key cannot tell its public key.
fn check_identity(
    cert_path: &Path,
    cert: &[u8],
    key_path: &Path,
    key: &[u8],
) -> Result<(), ConfigError> {
    let certs = pem_certs("etcd-certfile", cert_path, cert)?;
    let private: PrivateKeyDer<'static> =
        match rustls_pemfile::private_key(&mut &key[..]) {
            Ok(Some(k)) => k,
            Ok(None) | Err(_) => return Err(unusable(
                "etcd-keyfile",
                key_path,
                "the private key block is not valid PEM".to_owned(),
                "the file is damaged: export the key again (`openssl pkey -in KEY -out KEY.pem`)",
            )),
        };
    let provider = rustls::crypto::ring::default_provider();
    let signer = provider
        .key_provider
        .load_private_key(private)
        .map_err(|e| {
            unusable(
                "etcd-keyfile",
                key_path,
                format!("the private key cannot be used ({e})"),
                "give an RSA, ECDSA (P-256/P-384) or Ed25519 key in PEM",
            )
        })?;
    match CertifiedKey::new(certs, signer).keys_match() {
        Ok(()) => Ok(()),
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
            Err(unusable(
                "etcd-keyfile",
                key_path,
                format!(
                    "this private key does not belong to the certificate in etcd-certfile {}",
                    cert_path.display()
                ),
                FIX_KEY_PAIR,
            ))
        }
        // The key cannot say its public key: rustls accepts it too.
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => Ok(()),
        Err(e) => Err(unusable(
            "etcd-certfile",
            cert_path,
            format!("the etcd client cannot use this certificate ({e})"),
            "give an X.509 v3 client certificate in PEM (OpenSSL 3.0 and older make v1 with `openssl x509 -req` unless `-extfile` adds an extension, e.g. extendedKeyUsage=clientAuth)",
        )),
    }
}
