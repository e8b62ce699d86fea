//! OAuth 1.0a verification as RFC 5849 section 3.4 defines it, written from the RFC and not from
//! the appliance's signer, so the one checks the other.

/// The OAuth 1.0a secrets the tests give the appliance.
pub const CONSUMER_KEY: &str = "test-consumer-key";
/// See [`CONSUMER_KEY`].
pub const CONSUMER_SECRET: &str = "test-consumer-secret";
/// See [`CONSUMER_KEY`].
pub const ACCESS_TOKEN: &str = "1000-test-access-token";
/// See [`CONSUMER_KEY`].
pub const ACCESS_TOKEN_SECRET: &str = "test-access-secret";

/// RFC 3986 percent-encoding of everything but the unreserved characters (RFC 5849 3.6).
fn rfc3986(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The decoded `key=value` pairs of a query, in order (`+` is a space, as forms encode it).
pub(crate) fn query_pairs(query: &str) -> Vec<(String, String)> {
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(&s.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned()
    };
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// Checks an `Authorization: OAuth …` header against the request, as RFC 5849 section 3.4
/// defines the signature; `Err` says what is wrong.
pub fn verify_oauth(method: &str, base_url: &str, query: &str, header: &str) -> Result<(), String> {
    use base64::Engine as _;
    use hmac::{KeyInit, Mac};
    let fields = header.strip_prefix("OAuth ").ok_or("not an OAuth header")?;
    let mut oauth: Vec<(String, String)> = Vec::new();
    for part in fields.split(',') {
        let (k, v) = part
            .trim()
            .split_once('=')
            .ok_or("a malformed OAuth field")?;
        let v = v.trim_matches('"');
        let v = percent_encoding::percent_decode_str(v)
            .decode_utf8_lossy()
            .into_owned();
        oauth.push((k.to_string(), v));
    }
    let get = |name: &str| {
        oauth
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .ok_or(format!("no {name}"))
    };
    if get("oauth_signature_method")? != "HMAC-SHA1" {
        return Err("the signature method is not HMAC-SHA1".into());
    }
    if get("oauth_consumer_key")? != CONSUMER_KEY || get("oauth_token")? != ACCESS_TOKEN {
        return Err("unknown consumer key or token".into());
    }
    get("oauth_nonce")?;
    let timestamp: u64 = get("oauth_timestamp")?
        .parse()
        .map_err(|_| "a bad timestamp")?;
    if timestamp.abs_diff(crate::now_epoch()) > 300 {
        return Err("the timestamp is more than 5 minutes off".into());
    }
    let signature = get("oauth_signature")?;
    let mut params: Vec<(String, String)> = query_pairs(query)
        .into_iter()
        .chain(
            oauth
                .iter()
                .filter(|(k, _)| k != "oauth_signature" && k != "realm")
                .cloned(),
        )
        .map(|(k, v)| (rfc3986(&k), rfc3986(&v)))
        .collect();
    params.sort();
    let normalized = params
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let base = format!(
        "{}&{}&{}",
        method.to_ascii_uppercase(),
        rfc3986(base_url),
        rfc3986(&normalized)
    );
    let key = format!(
        "{}&{}",
        rfc3986(CONSUMER_SECRET),
        rfc3986(ACCESS_TOKEN_SECRET)
    );
    let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(base.as_bytes());
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    if expected == signature {
        Ok(())
    } else {
        Err(format!(
            "the signature does not match (base string: {base})"
        ))
    }
}
