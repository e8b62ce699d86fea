//! The one HTTP client setup used for the X API, JSON-RPC and webhooks, and the rule for which
//! URLs may be used: rustls with the ring provider (as
//! the RTMP client) and the webpki root certificates built in, so the appliance trusts the same
//! roots on every box whatever its system store holds.

use std::sync::Arc;
use std::time::Duration;

/// An HTTP client with a whole-request timeout.
pub fn client(timeout: Duration) -> Result<reqwest::Client, String> {
    builder(timeout)?
        .timeout(timeout)
        .build()
        .map_err(|e| format!("HTTP client setup: {e}"))
}

/// A client for long-lived answers (a stream read for hours): `connect` bounds the connection
/// only; the reader decides when silence means a stall.
pub fn streaming_client(connect: Duration) -> Result<reqwest::Client, String> {
    builder(connect)?
        .build()
        .map_err(|e| format!("HTTP client setup: {e}"))
}

fn builder(timeout: Duration) -> Result<reqwest::ClientBuilder, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .user_agent(concat!("sothebais-appliance/", env!("CARGO_PKG_VERSION")))
        .no_proxy())
}

/// The host part of a URL, for logs: provider and webhook URLs carry keys in their paths, queries and
/// `user:password@` parts, none of which is shown.
pub fn host_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host)
        .to_string()
}

/// Whether `host` (with or without its port) names this machine.
fn is_loopback(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// A URL the appliance sends to or trusts answers from (`key` names its setting): `https://`,
/// or plain `http://` only to this machine, since anyone on the way could read and alter it.
pub fn check_url(key: &str, url: &str) -> Result<(), String> {
    if url.starts_with("https://") {
        return Ok(());
    }
    if url.starts_with("http://") {
        let host = host_of(url);
        if is_loopback(&host) {
            return Ok(());
        }
        return Err(format!(
            "{key}: http://{host} is plain HTTP, which anyone on the way can read and alter; \
             use https:// (plain http:// only to this machine)"
        ));
    }
    Err(format!("{key}: {} is not an http(s) URL", host_of(url)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_to_this_machine() {
        for ok in [
            "https://rpc.example/v2/KEY",
            "http://127.0.0.1:8545",
            "http://localhost:8545",
            "http://[::1]:8545/",
            "http://127.8.9.10",
        ] {
            assert!(check_url("chain.rpc_urls", ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://rpc.example/v2/KEY",
            "http://10.0.0.5:8545",
            "http://user:pw@1.2.3.4/",
        ] {
            let e = check_url("chain.rpc_urls", bad).unwrap_err();
            assert!(
                e.contains("plain HTTP")
                    && e.starts_with("chain.rpc_urls")
                    && !e.contains("KEY")
                    && !e.contains("pw"),
                "{e}"
            );
        }
    }
}
