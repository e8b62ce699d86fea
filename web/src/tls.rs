//! HTTPS on the LAN: a self-signed certificate made on first start (rcgen), kept in the data
//! directory (the key readable by the appliance's user only), and its SHA-256 fingerprint, which
//! the appliance prints so the operator can check what the browser shows.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// A certificate and its key, PEM.
pub struct Certificate {
    /// The certificate.
    pub cert_pem: String,
    /// Its private key.
    pub key_pem: String,
    /// SHA-256 of the DER certificate, `AB:CD:...`.
    pub fingerprint: String,
    /// Where the certificate is.
    pub cert_path: PathBuf,
}

fn fingerprint(cert_pem: &str) -> Result<String, String> {
    let der = pem_der(cert_pem)?;
    let digest = Sha256::digest(&der);
    Ok(digest
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":"))
}

fn pem_der(pem: &str) -> Result<Vec<u8>, String> {
    use rustls_pki_types::pem::PemObject as _;
    rustls_pki_types::CertificateDer::from_pem_slice(pem.as_bytes())
        .map(|der| der.to_vec())
        .map_err(|e| format!("the certificate is not PEM: {e}"))
}

/// Loads the certificate in `dir`, making one for `names` (host names and addresses) if there is
/// none.
pub fn load_or_create(dir: &Path, names: &[String]) -> Result<Certificate, String> {
    let cert_path = dir.join("cert.pem");
    let key_path = dir.join("key.pem");
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    if !(cert_path.exists() && key_path.exists()) {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new())
            .map_err(|e| format!("certificate parameters: {e}"))?;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "SothebAIs appliance");
        for name in names {
            let san = match name.parse::<IpAddr>() {
                Ok(ip) => rcgen::SanType::IpAddress(ip),
                Err(_) => rcgen::SanType::DnsName(
                    name.clone()
                        .try_into()
                        .map_err(|e| format!("{name}: {e}"))?,
                ),
            };
            params.subject_alt_names.push(san);
        }
        let now = std::time::SystemTime::now();
        params.not_before = now.into();
        params.not_after = (now + std::time::Duration::from_secs(10 * 365 * 86_400)).into();
        let key = rcgen::KeyPair::generate().map_err(|e| format!("key generation: {e}"))?;
        let cert = params
            .self_signed(&key)
            .map_err(|e| format!("self-signing: {e}"))?;
        write_private(&key_path, key.serialize_pem().as_bytes())?;
        std::fs::write(&cert_path, cert.pem())
            .map_err(|e| format!("cannot write {}: {e}", cert_path.display()))?;
    }
    let cert_pem = std::fs::read_to_string(&cert_path)
        .map_err(|e| format!("cannot read {}: {e}", cert_path.display()))?;
    let key_pem = std::fs::read_to_string(&key_path)
        .map_err(|e| format!("cannot read {}: {e}", key_path.display()))?;
    Ok(Certificate {
        fingerprint: fingerprint(&cert_pem)?,
        cert_pem,
        key_pem,
        cert_path,
    })
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    f.write_all(bytes)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_once_then_reused_with_a_private_key() {
        let dir = tempfile::tempdir().unwrap();
        let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
        let a = load_or_create(dir.path(), &names).unwrap();
        let b = load_or_create(dir.path(), &names).unwrap();
        assert_eq!(a.fingerprint, b.fingerprint);
        assert_eq!(a.fingerprint.len(), 32 * 3 - 1);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("key.pem"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
