//! Keeping the host to the facts: every number, amount, handle, time and lot name in a line it
//! would say must be in the facts it was given; a line that fails is not said.
//!
//! What counts, read from the line:
//! - **handles**: `@name`, compared without case;
//! - **times**: `14:00`, `2:05 pm`, compared as 24-hour `HH:MM`;
//! - **numbers and amounts**: `2.5`, `2.50`, `#3`, `3rd`, `1,000` and the words `one` to
//!   `twenty`, `thirty` … `ninety`, `hundred`, compared as exact decimals (`2.50` = `2.5`); a
//!   number inside a handle, a time or a fact's lot name is not counted twice; a number said
//!   as ETH (`1 ETH`, `2.5ETH`, `Ξ2.5`) must be one of the facts' amounts, not any number (a
//!   lot's `#1` does not make `1 ETH` true);
//! - **lot names**: any quoted title (`"…"`, `“…”`), and any catalogue name the facts do not
//!   allow, must be one of the facts' lots.

use std::collections::BTreeSet;

/// What the host may speak of, as text.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Facts {
    /// Numbers and amounts, as written in the facts (`2.5`, `30`, `0.1`).
    pub numbers: Vec<String>,
    /// The amounts in ETH among them (prices, bids, the reserve): the only numbers a line may
    /// say as ETH.
    pub amounts: Vec<String>,
    /// Handles without `@`.
    pub handles: Vec<String>,
    /// Times, `HH:MM` 24-hour.
    pub times: Vec<String>,
    /// Lot names the line may name.
    pub lots: Vec<String>,
    /// Every lot name of the catalogue (a line naming one not in `lots` is wrong).
    pub catalogue: Vec<String>,
}

/// Why a line may not be said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Violation {
    /// A handle not in the facts.
    Handle(String),
    /// A number or amount not in the facts.
    Number(String),
    /// A time not in the facts.
    Time(String),
    /// A lot name not in the facts.
    Lot(String),
}

/// A decimal in a canonical form: no leading zeros, no trailing fractional zeros, no
/// thousands commas (`02.50` → `2.5`, `1,000` → `1000`).
fn canonical(number: &str) -> Option<String> {
    let n = number.replace(',', "");
    if n.is_empty()
        || !n.chars().all(|c| c.is_ascii_digit() || c == '.')
        || n.matches('.').count() > 1
    {
        return None;
    }
    let (int, frac) = n.split_once('.').unwrap_or((&n, ""));
    let int = int.trim_start_matches('0');
    let frac = frac.trim_end_matches('0');
    let int = if int.is_empty() { "0" } else { int };
    Some(if frac.is_empty() {
        int.to_string()
    } else {
        format!("{int}.{frac}")
    })
}

/// Number words up to a hundred, as digits.
fn number_word(w: &str) -> Option<u32> {
    const ONES: [&str; 20] = [
        "zero",
        "one",
        "two",
        "three",
        "four",
        "five",
        "six",
        "seven",
        "eight",
        "nine",
        "ten",
        "eleven",
        "twelve",
        "thirteen",
        "fourteen",
        "fifteen",
        "sixteen",
        "seventeen",
        "eighteen",
        "nineteen",
    ];
    const TENS: [&str; 8] = [
        "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
    ];
    if let Some(i) = ONES.iter().position(|o| *o == w) {
        return Some(i as u32);
    }
    if let Some(i) = TENS.iter().position(|t| *t == w) {
        return Some(20 + 10 * i as u32);
    }
    (w == "hundred").then_some(100)
}

/// `HH:MM` from `14:00`, `2:05pm`, `2:05 pm` (the `pm` as the next word).
fn time_of(token: &str, next: Option<&str>) -> Option<String> {
    let t = token.to_ascii_lowercase();
    let (clock, suffix) = match t.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => (&t[..i], t[i..].to_string()),
        None => (
            t.as_str(),
            next.map(str::to_ascii_lowercase).unwrap_or_default(),
        ),
    };
    let (h, m) = clock.split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    if h > 23 || m > 59 || clock.split_once(':')?.1.len() != 2 {
        return None;
    }
    let suffix = suffix.trim_matches(|c: char| !c.is_ascii_alphabetic());
    let h = match suffix {
        "pm" | "p.m" if h < 12 => h + 12,
        "am" | "a.m" if h == 12 => 0,
        _ => h,
    };
    Some(format!("{h:02}:{m:02}"))
}

/// Checks `line` against `facts`; every violation, or `Ok`.
pub fn check(line: &str, facts: &Facts) -> Result<(), Vec<Violation>> {
    let mut bad = Vec::new();
    let lower = line.to_lowercase();
    // Lot names: the allowed ones are removed from what is scanned for numbers; a catalogue
    // name not allowed, or a quoted title not among the lots, is wrong.
    let mut rest = line.to_string();
    for lot in &facts.lots {
        if !lot.is_empty() {
            rest = rest.replace(lot.as_str(), " ");
        }
    }
    for name in &facts.catalogue {
        if !name.is_empty() && !facts.lots.contains(name) && lower.contains(&name.to_lowercase()) {
            bad.push(Violation::Lot(name.clone()));
        }
    }
    for (open, close) in [('"', '"'), ('“', '”')] {
        let mut parts = rest.split([open, close]).skip(1).step_by(2);
        for quoted in parts.by_ref() {
            let q = quoted.trim();
            if !q.is_empty() && !facts.lots.iter().any(|l| l == q) {
                bad.push(Violation::Lot(q.to_string()));
            }
        }
    }
    let numbers: BTreeSet<String> = facts.numbers.iter().filter_map(|n| canonical(n)).collect();
    let amounts: BTreeSet<String> = facts.amounts.iter().filter_map(|n| canonical(n)).collect();
    let handles: BTreeSet<String> = facts.handles.iter().map(|h| h.to_lowercase()).collect();
    let times: BTreeSet<&str> = facts.times.iter().map(String::as_str).collect();
    let tokens: Vec<&str> = rest.split_whitespace().collect();
    for (i, raw) in tokens.iter().enumerate() {
        let token = raw.trim_matches(|c: char| {
            matches!(
                c,
                '.' | ',' | '!' | '?' | ';' | ':' | '(' | ')' | '"' | '“' | '”' | '…' | '\''
            )
        });
        if token.is_empty() {
            continue;
        }
        if let Some(h) = token.strip_prefix('@') {
            let h: String = h
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !h.is_empty() && !handles.contains(&h.to_lowercase()) {
                bad.push(Violation::Handle(format!("@{h}")));
            }
            continue;
        }
        if token.contains(':') && token.starts_with(|c: char| c.is_ascii_digit()) {
            match time_of(token, tokens.get(i + 1).copied()) {
                Some(t) if times.contains(t.as_str()) => {}
                _ => bad.push(Violation::Time(token.to_string())),
            }
            continue;
        }
        if let Some(n) = number_word(&token.to_lowercase()) {
            if !numbers.contains(&n.to_string()) {
                bad.push(Violation::Number(token.to_string()));
            }
            continue;
        }
        // Digits with their decimal point, after a `#` or `$`, before a unit or an ordinal.
        let t = token.trim_start_matches(['#', '$', 'Ξ']);
        if !t.starts_with(|c: char| c.is_ascii_digit()) && !t.starts_with('.') {
            if token.chars().any(|c| c.is_ascii_digit()) {
                // Digits inside a word ("x2", "b3t"): a number all the same.
                let digits: String = token.chars().filter(char::is_ascii_digit).collect();
                if !numbers.contains(&canonical(&digits).unwrap_or_default()) {
                    bad.push(Violation::Number(token.to_string()));
                }
            }
            continue;
        }
        let end = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == ','))
            .unwrap_or(t.len());
        let number = t[..end].trim_end_matches(['.', ',']);
        let in_eth = token.starts_with('Ξ')
            || t[end..].to_lowercase().starts_with("eth")
            || tokens.get(i + 1).is_some_and(|w| {
                w.trim_matches(|c: char| !c.is_alphanumeric())
                    .eq_ignore_ascii_case("eth")
            });
        match canonical(number) {
            Some(n) if in_eth && !amounts.contains(&n) => {
                bad.push(Violation::Number(token.to_string()))
            }
            Some(n) if numbers.contains(&n) => {}
            _ => bad.push(Violation::Number(token.to_string())),
        }
    }
    // Non-ASCII digits (look-alikes, other scripts) are never the facts' own.
    if line
        .chars()
        .any(|c| c.is_numeric() && !c.is_ascii_digit() && number_word(&c.to_string()).is_none())
    {
        bad.push(Violation::Number("a digit outside 0-9".into()));
    }
    if bad.is_empty() { Ok(()) } else { Err(bad) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> Facts {
        Facts {
            numbers: vec![
                "2.5".into(),
                "2.6".into(),
                "15".into(),
                "30".into(),
                "3".into(),
                "4".into(),
            ],
            amounts: vec!["2.5".into(), "2.6".into()],
            handles: vec!["Ada".into(), "bob_b".into()],
            times: vec!["16:00".into()],
            lots: vec!["Genesis #3".into()],
            catalogue: vec!["Genesis #3".into(), "Genesis #4".into(), "Night Owl".into()],
        }
    }

    #[test]
    fn a_line_of_facts_passes() {
        for line in [
            "@ada leads Genesis #3 at 2.5 ETH! Bid 2.6 or more before 16:00.",
            "Day 3 of 30: fifteen minutes left… and @bob_b is thinking.",
            "2.50 ETH from @Ada. Going once…",
            "“Genesis #3” is still open until 4:00 pm.",
            "Quiet in the room. Who wants it?",
        ] {
            assert_eq!(check(line, &facts()), Ok(()), "{line}");
        }
    }

    #[test]
    fn a_wrong_price_handle_time_or_lot_is_caught() {
        let cases = [
            ("@ada leads at 2.7 ETH", Violation::Number("2.7".into())),
            (
                "@carol leads at 2.5 ETH",
                Violation::Handle("@carol".into()),
            ),
            ("Bidding ends at 17:00", Violation::Time("17:00".into())),
            ("Genesis #4 is next", Violation::Lot("Genesis #4".into())),
            (
                "Up next, \"Moon Cat\" by Ada",
                Violation::Lot("Moon Cat".into()),
            ),
            (
                "Only twelve minutes left",
                Violation::Number("twelve".into()),
            ),
            ("Lot #9 closes soon", Violation::Number("#9".into())),
            ("It's worth $5,000", Violation::Number("$5,000".into())),
            ("The 7th bid wins", Violation::Number("7th".into())),
            // A number of the facts, but not an amount (seen from a real small model).
            (
                "You will be bidding 3 ETH tomorrow",
                Violation::Number("3".into()),
            ),
            ("Only 30ETH", Violation::Number("30ETH".into())),
            ("Ξ15 takes it", Violation::Number("Ξ15".into())),
            (
                "Bid ２ ETH now",
                Violation::Number("a digit outside 0-9".into()),
            ),
        ];
        for (line, expected) in cases {
            let got = check(line, &facts()).unwrap_err();
            assert!(got.contains(&expected), "{line}: {got:?}");
        }
    }

    #[test]
    fn numbers_are_compared_exactly() {
        assert_eq!(canonical("02.50"), Some("2.5".into()));
        assert_eq!(canonical("1,000"), Some("1000".into()));
        assert_eq!(canonical("0.0"), Some("0".into()));
        assert_eq!(canonical("1.2.3"), None);
        assert_eq!(time_of("2:05", Some("pm")), Some("14:05".into()));
        assert_eq!(time_of("12:30am", None), Some("00:30".into()));
        assert_eq!(time_of("25:00", None), None);
    }

    proptest::proptest! {
        /// Whatever a model writes gets an answer, never a panic.
        #[test]
        fn any_text_gets_an_answer(text in "\\PC{0,200}") {
            let _ = check(&text, &facts());
        }
    }
}
