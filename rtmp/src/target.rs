//! Where to publish: `rtmp://host[:port]/app/key` or `rtmps://...`, and how to trust the
//! server. The stream key is a secret: it never appears in `Display` or `Debug`.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use tokio_rustls::rustls;

use crate::RtmpError;

/// A publishing endpoint.
#[derive(Clone, PartialEq, Eq)]
pub struct Target {
    /// Whether to use TLS.
    pub tls: bool,
    /// Host name or address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// RTMP application ("live", "x").
    pub app: String,
    /// Stream key (secret).
    pub key: String,
}

impl Target {
    /// Parses a publishing URL: the first path segment is the application, the rest the key.
    pub fn parse(url: &str) -> Result<Target, RtmpError> {
        let bad = |why: &str| {
            RtmpError::Url(format!(
                "{why} (expected rtmp://host[:port]/app/key or rtmps://...)"
            ))
        };
        let (tls, rest) = if let Some(r) = url.strip_prefix("rtmps://") {
            (true, r)
        } else if let Some(r) = url.strip_prefix("rtmp://") {
            (false, r)
        } else {
            return Err(bad("not an rtmp:// or rtmps:// URL"));
        };
        let (authority, path) = rest
            .split_once('/')
            .ok_or_else(|| bad("no application in the URL"))?;
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6
                .split_once(']')
                .ok_or_else(|| bad("unclosed [ in the host"))?;
            (h.to_string(), after.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (authority.to_string(), None),
            }
        };
        if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c == '@') {
            return Err(bad("no usable host in the URL"));
        }
        let port = match port {
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| bad("the port is not a number from 1 to 65535"))?,
            None if tls => 443,
            None => 1935,
        };
        let (app, key) = path
            .split_once('/')
            .ok_or_else(|| bad("no stream key in the URL"))?;
        if app.is_empty() || key.is_empty() {
            return Err(bad("the application and the stream key must not be empty"));
        }
        Ok(Target {
            tls,
            host,
            port,
            app: app.to_string(),
            key: key.to_string(),
        })
    }

    /// The tcUrl the server is told (no key).
    pub fn tc_url(&self) -> String {
        let scheme = if self.tls { "rtmps" } else { "rtmp" };
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        format!("{scheme}://{host}:{}/{}", self.port, self.app)
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/****", self.tc_url())
    }
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Target({self})")
    }
}

/// How to trust an rtmps:// server.
#[derive(Clone, Debug, Default)]
pub struct TlsOptions {
    /// Extra CA certificates (PEM) to trust, besides the built-in Mozilla roots.
    pub ca_file: Option<PathBuf>,
    /// Accept any certificate. For tests against a self-signed ingest only.
    pub insecure_skip_verify: bool,
}

/// Builds the TLS client configuration.
pub fn client_config(options: &TlsOptions) -> Result<Arc<rustls::ClientConfig>, RtmpError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| RtmpError::Tls(e.to_string()))?;
    let config = if options.insecure_skip_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider)))
            .with_no_client_auth()
    } else {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        if let Some(path) = &options.ca_file {
            use rustls::pki_types::pem::PemObject;
            let certs = rustls::pki_types::CertificateDer::pem_file_iter(path).map_err(|e| {
                RtmpError::Tls(format!("cannot read CA file {}: {e}", path.display()))
            })?;
            let mut added = 0;
            for cert in certs {
                let cert = cert.map_err(|e| RtmpError::Tls(format!("{}: {e}", path.display())))?;
                roots
                    .add(cert)
                    .map_err(|e| RtmpError::Tls(format!("{}: {e}", path.display())))?;
                added += 1;
            }
            if added == 0 {
                return Err(RtmpError::Tls(format!(
                    "{} holds no certificate",
                    path.display()
                )));
            }
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    Ok(Arc::new(config))
}

/// The verifier behind `insecure_skip_verify`: checks signatures, not identities.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_publishing_urls_and_hides_the_key() {
        let t = Target::parse("rtmps://va.pscp.tv:443/x/abc123secret").unwrap();
        assert!(t.tls);
        assert_eq!(
            (t.host.as_str(), t.port, t.app.as_str(), t.key.as_str()),
            ("va.pscp.tv", 443, "x", "abc123secret")
        );
        assert_eq!(t.to_string(), "rtmps://va.pscp.tv:443/x/****");
        assert!(!format!("{t:?}").contains("secret"));
        let t = Target::parse("rtmp://127.0.0.1/live/key/with/slashes?token=1").unwrap();
        assert_eq!((t.port, t.key.as_str()), (1935, "key/with/slashes?token=1"));
        let t = Target::parse("rtmp://[::1]:1936/live/k").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("::1", 1936));
        assert_eq!(t.tc_url(), "rtmp://[::1]:1936/live");
        for bad in [
            "http://x/live/k",
            "rtmp://host",
            "rtmp://host/live",
            "rtmp://host/live/",
            "rtmp://:1935/a/k",
            "rtmp://h:99999/a/k",
            "rtmp://h:0/a/k",
        ] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_missing_ca_file_is_a_clear_error() {
        let e = client_config(&TlsOptions {
            ca_file: Some("/nonexistent/ca.pem".into()),
            insecure_skip_verify: false,
        })
        .unwrap_err();
        assert!(e.to_string().contains("cannot read CA file"), "{e}");
        assert!(client_config(&TlsOptions::default()).is_ok());
    }
}
