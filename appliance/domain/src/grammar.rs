//! What a tweet means: the grammar bidders use, as a pure function of the text.
//!
//! - A **bid** mentions the host and says `bid <amount> [ETH]`: `@SothebAIs bid 2.5 ETH`,
//!   `@SothebAIs bid 0.75`, `@SothebAIs BID 3eth`. The amount is read exactly (see
//!   [`store::Wei::parse`]); a bare number is ether.
//! - A **ceiling** says `bid max <amount>`: the engine bids for the author the least needed to
//!   lead, up to that amount (proxy bidding, as eBay's); the ceiling is never shown.
//! - A **link** mentions the host and says `link <0x address> <0x signature>`, where the signature
//!   is an EIP-191 `personal_sign` of [`link_message`](crate::link::link_message).
//! - **withdraw** refunds everything escrow holds for the author that no bid needs.
//! - **remind me** asks for a reply before the next auction opens.
//! - **my bids**, **balance** and **help** are answered with the author's bids in this campaign,
//!   their escrow, and this grammar; **stop** turns the author's notices off (they get only what
//!   they ask for, and the result of an auction they lead), **start** on again. Each is the whole
//!   tweet besides mentions and hashtags, so chatter that merely contains the word is not one.
//! - Anything else is a **question** (it has a question mark) or **ignored** (chatter, retweets).
//!
//! Every doubtful case has one defined outcome, never a guess: look-alike digits (`１`, `١`,
//! `𝟏`), hidden characters, a second amount, another currency (`$50`, `50 USDC`, `1 WETH`),
//! gwei or wei amounts, commas, exponents and signs make the tweet **invalid**, with a reason the
//! author is told. Edited tweets never count (the original stands) and deleting a tweet does not
//! withdraw a bid that was already acknowledged.

use std::fmt::Write as _;

use store::{Address, TweetKind, Wei, WeiParseError};

use crate::link::{self, checksummed};

/// What a tweet says, before anything is checked against the auction or the chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parsed {
    /// What it is.
    pub kind: TweetKind,
    /// The amount of a bid.
    pub amount: Option<Wei>,
    /// The address of a link.
    pub address: Option<Address>,
    /// The address exactly as written (its case matters to some signing tools).
    pub address_text: Option<String>,
    /// The 65-byte signature of a link.
    pub signature: Option<Vec<u8>>,
    /// Why it is invalid or ignored: a stable code.
    pub reason: Option<&'static str>,
    /// A sentence for the author.
    pub message: String,
    /// Whether it mentions the host.
    pub mentions_host: bool,
}

impl Parsed {
    fn new(kind: TweetKind, mentions_host: bool, message: impl Into<String>) -> Parsed {
        Parsed {
            kind,
            amount: None,
            address: None,
            address_text: None,
            signature: None,
            reason: None,
            message: message.into(),
            mentions_host,
        }
    }

    fn invalid(mentions_host: bool, reason: &'static str, message: impl Into<String>) -> Parsed {
        Parsed {
            reason: Some(reason),
            ..Parsed::new(TweetKind::Invalid, mentions_host, message)
        }
    }

    fn ignored(mentions_host: bool, reason: &'static str, message: impl Into<String>) -> Parsed {
        Parsed {
            reason: Some(reason),
            ..Parsed::new(TweetKind::Ignored, mentions_host, message)
        }
    }
}

/// Characters that render as nothing (or reorder text) and so can hide what an amount says.
fn is_hidden(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
        | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}'
        | '\u{2066}'..='\u{206F}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}' | '\u{FFA0}')
}

/// X escapes `&`, `<` and `>` in tweet text.
fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

const EDGE_PUNCTUATION: &[char] = &[
    '.', ',', '!', '?', ';', ':', '(', ')', '[', ']', '"', '\'', '“', '”', '‘', '’', '…', '？',
    '！', '，', '。',
];

/// A token with the punctuation around it removed, lower-cased (ASCII only: look-alike letters
/// stay different).
fn word(token: &str) -> String {
    token.trim_matches(EDGE_PUNCTUATION).to_ascii_lowercase()
}

/// The handle a mention token names (`@alice,` → `alice`); X also takes the fullwidth `＠`.
fn mention(token: &str) -> Option<&str> {
    let rest = token
        .strip_prefix('@')
        .or_else(|| token.strip_prefix('＠'))?;
    let end = rest
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '_'))
        .map_or(rest.len(), |(i, _)| i);
    (end > 0 && end <= 15).then(|| &rest[..end])
}

/// Words that name a currency or unit when they follow a number.
fn is_unit_word(w: &str) -> bool {
    matches!(w, "eth" | "ether" | "ξ" | "gwei" | "wei")
        || [
            "usd", "usdc", "usdt", "dai", "btc", "sol", "eur", "gbp", "weth", "matic", "pol",
            "doge", "bnb", "dollar", "dollars", "bucks", "$", "€", "£",
        ]
        .contains(&w)
}

/// Whether a token reads as a number: starts with a digit (any script), a decimal point and a
/// digit, or a currency sign and a digit.
fn is_numberish(token: &str) -> bool {
    let t = token.trim_start_matches(['$', '€', '£', 'Ξ', '+', '-', '−']);
    let mut chars = t.chars();
    match chars.next() {
        Some(c) if c.is_numeric() => true,
        Some('.') => chars.next().is_some_and(char::is_numeric),
        _ => false,
    }
}

/// Whether a token is an amount with a currency: `2eth`, `$5`, `Ξ1`, or a number followed by a
/// unit word.
fn is_priced(tokens: &[&str], i: usize) -> bool {
    let t = tokens[i].trim_matches(EDGE_PUNCTUATION);
    if !is_numberish(t) {
        return false;
    }
    if t.starts_with(['$', '€', '£', 'Ξ']) {
        return true;
    }
    let lower = t.to_lowercase();
    let suffix = lower.trim_start_matches(|c: char| c.is_numeric() || c == '.' || c == ',');
    if !suffix.is_empty() && is_unit_word(suffix.trim_end_matches(EDGE_PUNCTUATION)) {
        return true;
    }
    tokens
        .get(i + 1)
        .is_some_and(|next| is_unit_word(&word(next).to_lowercase()))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verb {
    Bid,
    Link,
    Withdraw,
    Remind,
}

impl Verb {
    fn name(self) -> &'static str {
        match self {
            Verb::Bid => "bid",
            Verb::Link => "link",
            Verb::Withdraw => "withdraw",
            Verb::Remind => "remind me",
        }
    }
}

/// Reads a tweet written to `host` (a handle, with or without `@`).
pub fn parse(text: &str, host: &str) -> Parsed {
    let host = host.trim_start_matches('@');
    let text = unescape(text);
    let tokens: Vec<&str> = text.split_whitespace().collect();
    let mentions_host = tokens
        .iter()
        .filter_map(|t| mention(t))
        .any(|m| m.eq_ignore_ascii_case(host));

    if tokens.first().is_some_and(|t| *t == "RT")
        && tokens.get(1).is_some_and(|t| t.starts_with('@'))
    {
        return Parsed::ignored(mentions_host, "retweet", "A retweet is not a command.");
    }

    // Self-service: the whole tweet (besides mentions and hashtags) is the command.
    let phrase = tokens
        .iter()
        .filter(|t| mention(t).is_none() && !t.starts_with('#'))
        .map(|t| word(t))
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let own = match phrase.as_str() {
        "my bids" | "mybids" => Some((TweetKind::MyBids, "Your bids asked for.")),
        "balance" | "my balance" => Some((TweetKind::Balance, "Your escrow asked for.")),
        "help" => Some((TweetKind::Help, "How to take part asked for.")),
        "stop" => Some((TweetKind::Stop, "Notices off.")),
        "start" => Some((TweetKind::Start, "Notices on.")),
        _ => None,
    };
    if let Some((kind, message)) = own {
        return if mentions_host {
            Parsed::new(kind, true, message)
        } else {
            Parsed::ignored(false, "no_mention", "Not addressed to the host.")
        };
    }

    let mut verbs: Vec<(usize, Verb)> = Vec::new();
    for (i, token) in tokens.iter().enumerate() {
        let verb = match word(token).as_str() {
            "bid" => Some(Verb::Bid),
            "link" => Some(Verb::Link),
            "withdraw" => Some(Verb::Withdraw),
            "remind" if tokens.get(i + 1).is_some_and(|n| word(n) == "me") => Some(Verb::Remind),
            _ => None,
        };
        if let Some(v) = verb {
            verbs.push((i, v));
        }
    }

    let Some(&(at, verb)) = verbs.first() else {
        let question = text.contains('?') || text.contains('？');
        return if question {
            Parsed::new(
                TweetKind::Question,
                mentions_host,
                "A question for the host.",
            )
        } else {
            Parsed::ignored(mentions_host, "no_command", "No command in this tweet.")
        };
    };
    if verbs.iter().any(|(_, v)| *v != verb) {
        let mut names: Vec<&str> = verbs.iter().map(|(_, v)| v.name()).collect();
        names.dedup();
        return Parsed::invalid(
            mentions_host,
            "several_commands",
            format!(
                "One command per tweet, please: this one says {}.",
                names.join(" and ")
            ),
        );
    }
    if !mentions_host {
        return Parsed::invalid(
            false,
            "no_mention",
            format!("Mention @{host} so the {} counts.", verb.name()),
        );
    }
    match verb {
        Verb::Bid => parse_bid(&tokens, at, verbs.len(), mentions_host),
        Verb::Link => parse_link(&tokens, at, verbs.len(), mentions_host),
        Verb::Withdraw => {
            if verbs.len() > 1 {
                return Parsed::invalid(mentions_host, "several_commands", "Say withdraw once.");
            }
            if tokens
                .iter()
                .enumerate()
                .any(|(i, _)| is_priced(&tokens, i) || (i > at && is_numberish(tokens[i])))
            {
                return Parsed::invalid(
                    mentions_host,
                    "partial_withdraw",
                    "withdraw refunds everything no bid needs; tweet just \"withdraw\".",
                );
            }
            Parsed::new(TweetKind::Withdraw, mentions_host, "Withdrawal requested.")
        }
        Verb::Remind => Parsed::new(
            TweetKind::Remind,
            mentions_host,
            "Reminder before the next auction requested.",
        ),
    }
}

fn parse_bid(tokens: &[&str], at: usize, verb_count: usize, mentions_host: bool) -> Parsed {
    // `bid max 5 ETH`: a ceiling for proxy bidding.
    if tokens.get(at + 1).is_some_and(|t| word(t) == "max") {
        let mut p = parse_bid(tokens, at + 1, verb_count, mentions_host);
        if p.kind == TweetKind::Bid {
            p.kind = TweetKind::Ceiling;
            p.message = format!(
                "Ceiling of {} ETH.",
                p.amount.unwrap_or_default().eth_string()
            );
        }
        return p;
    }
    if verb_count > 1 {
        return Parsed::invalid(
            mentions_host,
            "multiple_amounts",
            "One bid per tweet, please: this one says bid more than once.",
        );
    }
    let Some(raw) = tokens.get(at + 1) else {
        return Parsed::invalid(
            mentions_host,
            "missing_amount",
            "Say how much: bid 1.5 ETH.",
        );
    };
    // The amount, with its unit when that is the next word ("2.5 ETH").
    let mut amount_text = raw.trim_end_matches(EDGE_PUNCTUATION).to_string();
    let mut used = at + 1;
    if let Some(next) = tokens.get(at + 2)
        && is_unit_word(&word(next).to_lowercase())
    {
        let _ = write!(amount_text, " {}", next.trim_end_matches(EDGE_PUNCTUATION));
        used = at + 2;
    }
    // "Ξ1.5" is ether written with its symbol.
    if let Some(rest) = amount_text.strip_prefix('Ξ')
        && rest.starts_with(|c: char| c.is_ascii_digit() || c == '.')
    {
        amount_text = rest.to_string();
    }
    if amount_text.chars().any(is_hidden) {
        return Parsed::invalid(
            mentions_host,
            "hidden_characters",
            "The amount contains invisible characters; type it plainly.",
        );
    }
    let others = tokens
        .iter()
        .enumerate()
        .filter(|(i, _)| (*i < at || *i > used) && is_priced(tokens, *i))
        .count();
    let next_is_number = tokens.get(used + 1).is_some_and(|t| is_numberish(t));
    if others > 0 || next_is_number {
        return Parsed::invalid(
            mentions_host,
            "multiple_amounts",
            "This tweet names more than one amount; bid with exactly one.",
        );
    }
    let lower = amount_text.to_lowercase();
    let unit =
        lower.trim_start_matches(|c: char| c.is_numeric() || c == '.' || c == ',' || c == ' ');
    if matches!(unit.trim(), "gwei" | "wei") {
        return Parsed::invalid(
            mentions_host,
            "other_currency",
            "Bids are in ETH: write bid 1.5 ETH.",
        );
    }
    match Wei::parse(&amount_text) {
        Ok(Wei(0)) => Parsed::invalid(mentions_host, "zero_amount", "A bid of zero is no bid."),
        Ok(amount) => Parsed {
            amount: Some(amount),
            ..Parsed::new(
                TweetKind::Bid,
                mentions_host,
                format!("Bid of {} ETH.", amount.eth_string()),
            )
        },
        Err(e) => {
            let reason = match &e {
                WeiParseError::NonAsciiDigit(_) => "lookalike_digits",
                WeiParseError::OtherCurrency(_) => "other_currency",
                WeiParseError::NoDigits | WeiParseError::Empty => "missing_amount",
                other => other.code(),
            };
            let message = match &e {
                WeiParseError::NonAsciiDigit(c) => {
                    format!("The digit '{c}' is not a plain 0-9 digit; type the amount with 0-9.")
                }
                WeiParseError::NoDigits | WeiParseError::Empty => {
                    "Say how much: bid 1.5 ETH.".to_string()
                }
                other => {
                    let text = other.to_string();
                    let mut chars = text.chars();
                    let first = chars.next().map(|c| c.to_uppercase().collect::<String>());
                    format!("{}{}.", first.unwrap_or_default(), chars.as_str())
                }
            };
            Parsed::invalid(mentions_host, reason, message)
        }
    }
}

/// What `appliance parse-tweet` prints: the outcome of a tweet as one JSON object.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Explained {
    /// `bid`, `link`, `withdraw`, `remind`, `question`, `ignored` or `invalid`.
    pub kind: &'static str,
    /// A bid's amount in wei, as a string.
    pub amount_wei: Option<String>,
    /// The same in ETH.
    pub amount_eth: Option<String>,
    /// A link's address (checksummed).
    pub address: Option<String>,
    /// Whether a link's signature is the author's (known only with the author's handle).
    pub signature_valid: Option<bool>,
    /// Why it is invalid or ignored.
    pub reason: Option<String>,
    /// A sentence for the author.
    pub message: String,
    /// Whether it mentions the host.
    pub mentions_host: bool,
}

/// Reads a tweet as the engine would (without an auction to judge a bid against); with the
/// author's handle, a link's signature is verified too.
pub fn explain(text: &str, host: &str, author: Option<&str>) -> Explained {
    let p = parse(text, host);
    let mut out = Explained {
        kind: p.kind.as_str(),
        amount_wei: p.amount.map(|a| a.0.to_string()),
        amount_eth: p.amount.map(Wei::eth_string),
        address: p.address.as_ref().map(checksummed),
        signature_valid: None,
        reason: p.reason.map(str::to_string),
        message: p.message.clone(),
        mentions_host: p.mentions_host,
    };
    if let (TweetKind::Link, Some(author), Some(address), Some(sig)) =
        (p.kind, author, p.address, p.signature.as_deref())
    {
        match link::verify(author, &address, p.address_text.as_deref(), sig, host) {
            Ok(()) => out.signature_valid = Some(true),
            Err(e) => {
                out.signature_valid = Some(false);
                out.kind = TweetKind::Invalid.as_str();
                out.reason = Some(e.code().to_string());
                out.message = e.to_string();
            }
        }
    } else if p.kind == TweetKind::Link {
        out.message = format!("{} Give --author to check the signature.", out.message);
    }
    out
}

fn hex_bytes(token: &str, len: usize) -> Option<Vec<u8>> {
    let t = token.trim_matches(EDGE_PUNCTUATION);
    let h = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X"))?;
    if h.len() != len * 2 {
        return None;
    }
    alloy_primitives::hex::decode(h).ok()
}

fn parse_link(tokens: &[&str], at: usize, verb_count: usize, mentions_host: bool) -> Parsed {
    if verb_count > 1 {
        return Parsed::invalid(
            mentions_host,
            "several_commands",
            "Link one wallet per tweet.",
        );
    }
    let address_token = tokens.get(at + 1).map(|t| t.trim_matches(EDGE_PUNCTUATION));
    let Some(address) = address_token.and_then(|t| t.parse::<Address>().ok()) else {
        return Parsed::invalid(
            mentions_host,
            "bad_address",
            "Write link <0x address> <0x signature>.",
        );
    };
    let Some(signature) = tokens.get(at + 2).and_then(|t| hex_bytes(t, 65)) else {
        return Parsed::invalid(
            mentions_host,
            "bad_signature",
            "The signature is 0x followed by 130 hex digits.",
        );
    };
    Parsed {
        address: Some(address),
        address_text: address_token.map(str::to_string),
        signature: Some(signature),
        ..Parsed::new(
            TweetKind::Link,
            mentions_host,
            format!("Link of {}.", checksummed(&address)),
        )
    }
}

#[cfg(test)]
mod tests;
