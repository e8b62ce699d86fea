//! Money: integer wei, parsed exactly from decimal text and never rounded.
//!
//! This is the one place where text becomes an amount. Anything ambiguous (a thousands or decimal
//! comma, an exponent, a sign, a currency that is not ETH, digits that are not ASCII) is refused
//! with a reason a bidder can read, rather than guessed at.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An amount of ether in wei (10^-18 ETH).
///
/// Stored as a varint in records; written as a decimal string of wei in JSON, because JSON numbers
/// lose precision above 2^53.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Wei(pub u128);

/// Why a text is not an amount. [`WeiParseError::code`] is stable; `Display` is for people.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WeiParseError {
    /// Nothing to parse.
    #[error("no amount given")]
    Empty,
    /// A leading `-` or `+`.
    #[error("amounts cannot carry a sign")]
    Signed,
    /// A digit outside ASCII (fullwidth, Arabic-Indic, ...), which could be a look-alike.
    #[error("the digit '{0}' is not a plain 0-9 digit")]
    NonAsciiDigit(char),
    /// `1,5` or `1,000`: a comma is a decimal mark in some places and a thousands mark in others.
    #[error("commas are ambiguous in amounts; write 1000 or 1.5")]
    AmbiguousComma,
    /// `1e18`.
    #[error("exponents are not accepted; write the amount in full")]
    Exponent,
    /// `1.2.3`.
    #[error("the amount has more than one decimal point")]
    MultipleDecimalPoints,
    /// `.` or `ETH` alone.
    #[error("the amount has no digits")]
    NoDigits,
    /// More decimals than the unit can hold exactly.
    #[error("{unit} amounts have at most {max} decimal places")]
    TooPrecise {
        /// The unit the amount was written in.
        unit: &'static str,
        /// The most decimal places that unit allows.
        max: u32,
    },
    /// A currency other than ether (`USD`, `$`, `BTC`, ...).
    #[error("only ETH amounts are accepted, not {0}")]
    OtherCurrency(String),
    /// Trailing text that is no unit.
    #[error("'{0}' is not a unit; use ETH, gwei or wei")]
    UnknownUnit(String),
    /// Larger than any amount that can exist.
    #[error("the amount is too large")]
    Overflow,
}

impl WeiParseError {
    /// A short stable code for logs, metrics and JSON.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Empty => "empty",
            Self::Signed => "signed",
            Self::NonAsciiDigit(_) => "non_ascii_digit",
            Self::AmbiguousComma => "ambiguous_comma",
            Self::Exponent => "exponent",
            Self::MultipleDecimalPoints => "multiple_decimal_points",
            Self::NoDigits => "no_digits",
            Self::TooPrecise { .. } => "too_precise",
            Self::OtherCurrency(_) => "other_currency",
            Self::UnknownUnit(_) => "unknown_unit",
            Self::Overflow => "overflow",
        }
    }
}

/// Currency words and symbols that are refused as "not ETH" rather than "unknown unit".
const OTHER_CURRENCIES: &[&str] = &[
    "$", "usd", "usdc", "usdt", "dai", "btc", "sol", "eur", "€", "£", "gbp", "weth", "matic",
    "pol", "doge", "bnb", "dollar", "dollars", "bucks",
];

impl Wei {
    /// Zero wei.
    pub const ZERO: Wei = Wei(0);
    /// One ether.
    pub const ONE_ETH: Wei = Wei(1_000_000_000_000_000_000);

    /// Whole ether.
    pub const fn from_eth(eth: u64) -> Wei {
        Wei(eth as u128 * Self::ONE_ETH.0)
    }

    /// Parses `2.5 ETH`, `2.5eth`, `0.000000000000000001`, `150 gwei`, `42 wei`, `.5`.
    ///
    /// A bare number is ether. Units are case-insensitive (`eth`, `ether`, `gwei`, `wei`).
    pub fn parse(text: &str) -> Result<Wei, WeiParseError> {
        let s = text.trim();
        if s.is_empty() {
            return Err(WeiParseError::Empty);
        }
        if let Some(c) = s.chars().find(|c| c.is_numeric() && !c.is_ascii_digit()) {
            return Err(WeiParseError::NonAsciiDigit(c));
        }
        let first = s.chars().next().unwrap_or(' ');
        if first == '-' || first == '+' || first == '−' {
            return Err(WeiParseError::Signed);
        }
        // A currency symbol written before the number: "$5", "€5".
        for sym in ["$", "€", "£"] {
            if s.starts_with(sym) {
                return Err(WeiParseError::OtherCurrency(sym.to_string()));
            }
        }
        let number_end = s
            .char_indices()
            .find(|(_, c)| !(c.is_ascii_digit() || *c == '.' || *c == ','))
            .map_or(s.len(), |(i, _)| i);
        let (number, rest) = s.split_at(number_end);
        let unit = rest.trim_start();
        if number.contains(',') {
            return Err(WeiParseError::AmbiguousComma);
        }
        if number.chars().any(|c| c.is_ascii_digit())
            && (unit.starts_with(['e', 'E'])
                && unit[1..].starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '+'))
        {
            return Err(WeiParseError::Exponent);
        }
        let (unit_name, decimals) = match unit.to_ascii_lowercase().as_str() {
            "" | "eth" | "ether" | "Ξ" => ("ETH", 18),
            "gwei" => ("gwei", 9),
            "wei" => ("wei", 0),
            other => {
                let other = other.trim_end_matches(['.', '!', '?']);
                if matches!(other, "eth" | "ether") {
                    ("ETH", 18)
                } else if OTHER_CURRENCIES.contains(&other) {
                    return Err(WeiParseError::OtherCurrency(unit.to_string()));
                } else {
                    return Err(WeiParseError::UnknownUnit(unit.chars().take(24).collect()));
                }
            }
        };
        let mut parts = number.split('.');
        let whole = parts.next().unwrap_or("");
        let frac = parts.next().unwrap_or("");
        if parts.next().is_some() {
            return Err(WeiParseError::MultipleDecimalPoints);
        }
        if whole.is_empty() && frac.is_empty() {
            return Err(WeiParseError::NoDigits);
        }
        if frac.len() > decimals as usize {
            return Err(WeiParseError::TooPrecise {
                unit: unit_name,
                max: decimals,
            });
        }
        let scale = 10u128.pow(decimals);
        let whole_value = digits_value(whole)?
            .checked_mul(scale)
            .ok_or(WeiParseError::Overflow)?;
        let frac_value = digits_value(frac)?
            .checked_mul(10u128.pow(decimals - frac.len() as u32))
            .ok_or(WeiParseError::Overflow)?;
        whole_value
            .checked_add(frac_value)
            .map(Wei)
            .ok_or(WeiParseError::Overflow)
    }

    /// The amount in ether as exact decimal text without trailing zeros: `2.5`, `0`, `1`.
    pub fn eth_string(self) -> String {
        let whole = self.0 / Self::ONE_ETH.0;
        let frac = self.0 % Self::ONE_ETH.0;
        if frac == 0 {
            return whole.to_string();
        }
        let frac = format!("{frac:018}");
        format!("{whole}.{}", frac.trim_end_matches('0'))
    }

    /// Checked addition.
    pub fn checked_add(self, other: Wei) -> Option<Wei> {
        self.0.checked_add(other.0).map(Wei)
    }

    /// Checked subtraction.
    pub fn checked_sub(self, other: Wei) -> Option<Wei> {
        self.0.checked_sub(other.0).map(Wei)
    }

    /// Subtraction that stops at zero.
    pub fn saturating_sub(self, other: Wei) -> Wei {
        Wei(self.0.saturating_sub(other.0))
    }

    /// `self * bps / 10_000`, rounded up, so a percentage increment is never undercut.
    pub fn bps_ceil(self, bps: u32) -> Wei {
        let bps = u128::from(bps);
        // Split to avoid overflow: (q*10000 + r) * bps / 10000 = q*bps + r*bps/10000.
        let q = self.0 / 10_000;
        let r = self.0 % 10_000;
        let exact = q.saturating_mul(bps);
        let rest = r * bps;
        Wei(exact.saturating_add(rest.div_ceil(10_000)))
    }
}

fn digits_value(digits: &str) -> Result<u128, WeiParseError> {
    let mut value: u128 = 0;
    for b in digits.bytes() {
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u128::from(b - b'0')))
            .ok_or(WeiParseError::Overflow)?;
    }
    Ok(value)
}

impl fmt::Display for Wei {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ETH", self.eth_string())
    }
}

impl FromStr for Wei {
    type Err = WeiParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Wei::parse(s)
    }
}

impl Serialize for Wei {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.collect_str(&self.0)
        } else {
            serializer.serialize_u128(self.0)
        }
    }
}

impl<'de> Deserialize<'de> for Wei {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            // Plain digits are wei; anything else must name its unit ("0.25 ETH", "150 gwei"),
            // so "1" can never be read as both 1 wei and 1 ETH.
            let text = String::deserialize(deserializer)?;
            if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
                return digits_value(&text)
                    .map(Wei)
                    .map_err(|e| serde::de::Error::custom(e.to_string()));
            }
            if !text.chars().any(char::is_alphabetic) {
                return Err(serde::de::Error::custom(format!(
                    "expected wei as a decimal string or an amount with its unit (\"0.25 ETH\"), got {text:?}"
                )));
            }
            Wei::parse(&text).map_err(|e| serde::de::Error::custom(format!("{text:?}: {e}")))
        } else {
            u128::deserialize(deserializer).map(Wei)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_the_documented_forms() {
        let cases = [
            ("2.5 ETH", 2_500_000_000_000_000_000u128),
            ("2.5eth", 2_500_000_000_000_000_000),
            ("2.5 Ether", 2_500_000_000_000_000_000),
            ("0.000000000000000001", 1),
            (".5", 500_000_000_000_000_000),
            ("5.", 5_000_000_000_000_000_000),
            ("  3  ", 3_000_000_000_000_000_000),
            ("150 gwei", 150_000_000_000),
            ("42 wei", 42),
            ("1 ETH.", 1_000_000_000_000_000_000),
            ("007", 7_000_000_000_000_000_000),
            ("0", 0),
        ];
        for (text, wei) in cases {
            assert_eq!(Wei::parse(text), Ok(Wei(wei)), "{text}");
        }
    }

    #[test]
    fn refuses_what_is_ambiguous_or_out_of_range() {
        let cases = [
            ("", "empty"),
            ("   ", "empty"),
            ("-1", "signed"),
            ("+1", "signed"),
            ("1,5", "ambiguous_comma"),
            ("1,000", "ambiguous_comma"),
            ("1e18", "exponent"),
            ("1E-3", "exponent"),
            ("1.2.3", "multiple_decimal_points"),
            (".", "no_digits"),
            ("ETH", "no_digits"),
            ("0.0000000000000000001", "too_precise"),
            ("1.5 wei", "too_precise"),
            ("0.0000000001 gwei", "too_precise"),
            ("5 USD", "other_currency"),
            ("$5", "other_currency"),
            ("5 btc", "other_currency"),
            ("5 apples", "unknown_unit"),
            ("５", "non_ascii_digit"),
            ("١٢", "non_ascii_digit"),
            ("1 ETH 2", "unknown_unit"),
            ("340282366920938463463374607432 ETH", "overflow"),
            ("340282366920938463463374607431768211456 wei", "overflow"),
        ];
        for (text, code) in cases {
            match Wei::parse(text) {
                Err(e) => assert_eq!(e.code(), code, "{text}: {e}"),
                Ok(w) => panic!("{text:?} parsed as {w:?}"),
            }
        }
    }

    #[test]
    fn formats_without_trailing_zeros() {
        assert_eq!(Wei(0).eth_string(), "0");
        assert_eq!(Wei::from_eth(3).eth_string(), "3");
        assert_eq!(Wei(1).eth_string(), "0.000000000000000001");
        assert_eq!(Wei(2_500_000_000_000_000_000).to_string(), "2.5 ETH");
        assert_eq!(
            Wei(u128::MAX).eth_string(),
            "340282366920938463463.374607431768211455"
        );
    }

    #[test]
    fn percentage_increment_rounds_up() {
        assert_eq!(Wei(10_000).bps_ceil(500), Wei(500));
        assert_eq!(Wei(1).bps_ceil(1), Wei(1));
        assert_eq!(Wei(0).bps_ceil(500), Wei(0));
        assert_eq!(Wei(u128::MAX).bps_ceil(10_000), Wei(u128::MAX));
    }

    #[test]
    fn json_uses_decimal_strings() {
        let w = Wei(u128::MAX);
        let json = serde_json::to_string(&w).unwrap();
        assert_eq!(json, "\"340282366920938463463374607431768211455\"");
        assert_eq!(serde_json::from_str::<Wei>(&json).unwrap(), w);
        assert!(
            serde_json::from_str::<Wei>("\"1.5\"").is_err(),
            "a bare decimal has no unit"
        );
        assert_eq!(
            serde_json::from_str::<Wei>("\"1.5 ETH\"").unwrap(),
            Wei(1_500_000_000_000_000_000)
        );
        assert!(serde_json::from_str::<Wei>("\"1.5 USD\"").is_err());
        assert!(serde_json::from_str::<Wei>("15").is_err());
    }

    proptest! {
        #[test]
        fn eth_text_round_trips(w in any::<u128>()) {
            prop_assert_eq!(Wei::parse(&Wei(w).eth_string()), Ok(Wei(w)));
            prop_assert_eq!(Wei::parse(&format!("{w} wei")), Ok(Wei(w)));
        }

        #[test]
        fn arbitrary_text_never_panics_and_only_digits_make_amounts(s in "\\PC{0,40}") {
            if let Ok(w) = Wei::parse(&s) {
                // Whatever parsed must print back to the same amount.
                prop_assert_eq!(Wei::parse(&w.eth_string()), Ok(w));
                prop_assert!(s.chars().any(|c| c.is_ascii_digit()));
            }
        }

        #[test]
        fn postcard_round_trips(w in any::<u128>()) {
            let bytes = postcard::to_stdvec(&Wei(w)).unwrap();
            prop_assert_eq!(postcard::from_bytes::<Wei>(&bytes).unwrap(), Wei(w));
        }
    }
}
