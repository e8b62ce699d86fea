//! Secrets from the configuration (API keys, tokens, passphrases): they can be read where they
//! are used, and never end up in a log line, a debug dump or a serialized configuration.

use std::fmt;

use serde::{Deserialize, Serialize, Serializer};

/// A secret string. `Debug` and `Serialize` show only whether it is set.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(from = "Text")]
pub struct Secret(String);

/// Text as configured: a string, or a number (an environment override of digits reads as one).
#[derive(Deserialize)]
#[serde(untagged)]
pub enum Text {
    /// A string.
    String(String),
    /// A whole number.
    Integer(i64),
}

impl From<Text> for String {
    fn from(t: Text) -> String {
        match t {
            Text::String(s) => s,
            Text::Integer(n) => n.to_string(),
        }
    }
}

impl From<Text> for Secret {
    fn from(t: Text) -> Secret {
        Secret(t.into())
    }
}

/// Deserializes a string that may have been written as a number.
pub fn text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Text::deserialize(d).map(String::from)
}

impl Secret {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The secret itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether it is empty (not configured).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str("Secret(unset)")
        } else {
            f.write_str("Secret(redacted)")
        }
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(if self.0.is_empty() { "" } else { "(redacted)" })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_shown() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "Secret(redacted)");
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"(redacted)\"");
        assert_eq!(s.expose(), "hunter2");
        let parsed: Secret = serde_json::from_str("\"abc\"").unwrap();
        assert_eq!(parsed.expose(), "abc");
        let digits: Secret = serde_json::from_str("12345").unwrap();
        assert_eq!(digits.expose(), "12345");
        assert_eq!(format!("{:?}", Secret::default()), "Secret(unset)");
    }
}
