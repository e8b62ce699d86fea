//! The one HTTP client setup used for the X API and JSON-RPC: rustls with the ring provider (as
//! the RTMP client) and the webpki root certificates built in, so the appliance trusts the same
//! roots on every box whatever its system store holds.

use std::sync::Arc;
use std::time::Duration;

/// An HTTP client with a whole-request timeout.
pub fn client(timeout: Duration) -> Result<reqwest::Client, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .user_agent(concat!("sothebais-appliance/", env!("CARGO_PKG_VERSION")))
        .no_proxy()
        .build()
        .map_err(|e| format!("HTTP client setup: {e}"))
}
