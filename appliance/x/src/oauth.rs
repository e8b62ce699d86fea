//! OAuth 1.0a user-context request signing (HMAC-SHA1), as X documents it: the signature base
//! string is the method, the URL without its query, and every query and `oauth_*` parameter,
//! percent-encoded (RFC 3986) and sorted. JSON bodies are not part of the signature.

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use sha1::Sha1;

use domain::secret::Secret;

/// Everything but the RFC 3986 unreserved characters is encoded.
const ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes as OAuth 1.0a requires.
pub fn encode(text: &str) -> String {
    utf8_percent_encode(text, ENCODE).to_string()
}

/// The four secrets of OAuth 1.0a user context.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserCredentials {
    /// The app's API key.
    pub consumer_key: Secret,
    /// The app's API key secret.
    pub consumer_secret: Secret,
    /// The host account's access token.
    pub access_token: Secret,
    /// The host account's access token secret.
    pub access_token_secret: Secret,
}

/// The `Authorization` header value for a request. `params` are the query (or form) parameters,
/// unencoded; `nonce` and `timestamp` are fresh per request.
pub fn authorization(
    method: &str,
    url: &str,
    params: &[(&str, &str)],
    creds: &UserCredentials,
    nonce: &str,
    timestamp: u64,
) -> String {
    let timestamp = timestamp.to_string();
    let oauth = [
        ("oauth_consumer_key", creds.consumer_key.expose()),
        ("oauth_nonce", nonce),
        ("oauth_signature_method", "HMAC-SHA1"),
        ("oauth_timestamp", timestamp.as_str()),
        ("oauth_token", creds.access_token.expose()),
        ("oauth_version", "1.0"),
    ];
    let mut all: Vec<(String, String)> = params
        .iter()
        .chain(oauth.iter())
        .map(|(k, v)| (encode(k), encode(v)))
        .collect();
    all.sort();
    let joined = all
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let base = format!(
        "{}&{}&{}",
        method.to_ascii_uppercase(),
        encode(url),
        encode(&joined)
    );
    let key = format!(
        "{}&{}",
        encode(creds.consumer_secret.expose()),
        encode(creds.access_token_secret.expose())
    );
    let mut mac =
        Hmac::<Sha1>::new_from_slice(key.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(base.as_bytes());
    let signature = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    let mut header = String::from("OAuth ");
    let mut fields: Vec<(&str, String)> =
        oauth.iter().map(|(k, v)| (*k, (*v).to_string())).collect();
    fields.push(("oauth_signature", signature));
    fields.sort();
    header.push_str(
        &fields
            .iter()
            .map(|(k, v)| format!("{}=\"{}\"", encode(k), encode(v)))
            .collect::<Vec<_>>()
            .join(", "),
    );
    header
}

/// A fresh nonce: 32 random alphanumeric characters.
pub fn nonce() -> String {
    std::iter::repeat_with(fastrand::alphanumeric)
        .take(32)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example of X's "Creating a signature" page.
    #[test]
    fn matches_the_documented_example() {
        let creds = UserCredentials {
            consumer_key: Secret::new("xvz1evFS4wEEPTGEFPHBog"),
            consumer_secret: Secret::new("kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw"),
            access_token: Secret::new("370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb"),
            access_token_secret: Secret::new("LswwdoUaIvS8ltyTt5jkRh4J50vUPVVHtR2YPi5kE"),
        };
        let header = authorization(
            "post",
            "https://api.twitter.com/1.1/statuses/update.json",
            &[
                ("include_entities", "true"),
                (
                    "status",
                    "Hello Ladies + Gentlemen, a signed OAuth request!",
                ),
            ],
            &creds,
            "kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg",
            1_318_622_958,
        );
        assert!(
            header.contains(r#"oauth_signature="hCtSmYh%2BiHYCEqBWrE7C7hYmtUk%3D""#),
            "{header}"
        );
        assert!(header.starts_with("OAuth oauth_consumer_key=\"xvz1evFS4wEEPTGEFPHBog\""));
        assert!(
            header.contains(r#"oauth_token="370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb""#)
        );
        assert!(!header.contains("kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw"));
    }

    #[test]
    fn encoding_follows_rfc_3986() {
        assert_eq!(encode("Ladies + Gentlemen"), "Ladies%20%2B%20Gentlemen");
        assert_eq!(encode("a-b.c_d~e"), "a-b.c_d~e");
        assert_eq!(encode("☃"), "%E2%98%83");
        assert_eq!(nonce().len(), 32);
    }
}
