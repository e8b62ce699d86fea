use proptest::prelude::*;

use super::*;
use crate::link::link_message;

const HOST: &str = "SothebAIs";

fn eth(text: &str) -> Wei {
    Wei::parse(text).unwrap()
}

#[track_caller]
fn bid(text: &str, amount: &str) {
    let p = parse(text, HOST);
    assert_eq!(p.kind, TweetKind::Bid, "{text:?}: {p:?}");
    assert_eq!(p.amount, Some(eth(amount)), "{text:?}");
}

#[track_caller]
fn invalid(text: &str, reason: &str) {
    let p = parse(text, HOST);
    assert_eq!(
        (p.kind, p.reason),
        (TweetKind::Invalid, Some(reason)),
        "{text:?}: {}",
        p.message
    );
    assert!(!p.message.is_empty());
}

#[test]
fn bids_in_the_documented_forms() {
    bid("@SothebAIs bid 2.5 ETH", "2.5");
    bid("@SothebAIs bid 0.75", "0.75");
    bid("@SothebAIs BID 3eth", "3");
    bid("@sothebais Bid 1.5 eth!", "1.5");
    bid("bid: 2 ETH @SothebAIs #Genesis", "2");
    bid("@SothebAIs I bid 2 ETH on day 3", "2");
    bid("@SothebAIs bid .5", "0.5");
    bid(
        "@SothebAIs bid 0.000000000000000001",
        "0.000000000000000001",
    );
    bid("@SothebAIs bid Ξ1.25", "1.25");
    bid("＠SothebAIs bid 1", "1");
    bid("@someone @SothebAIs bid 4 ether", "4");
    bid("@SothebAIs bid 2 ETH &amp; good luck", "2");
}

#[test]
fn every_doubtful_amount_has_one_outcome() {
    invalid("@SothebAIs bid １ ETH", "lookalike_digits");
    invalid("@SothebAIs bid ١ ETH", "lookalike_digits");
    invalid("@SothebAIs bid 𝟏 ETH", "lookalike_digits");
    invalid("@SothebAIs bid 1\u{200B}0 ETH", "hidden_characters");
    invalid("@SothebAIs bid 1 ETH or 2 ETH", "multiple_amounts");
    invalid("@SothebAIs bid 1 2 ETH", "multiple_amounts");
    invalid("@SothebAIs bid 1 bid 2", "multiple_amounts");
    invalid("@SothebAIs 5 ETH? bid 1", "multiple_amounts");
    invalid("@SothebAIs bid $50", "other_currency");
    invalid("@SothebAIs bid 50 USDC", "other_currency");
    invalid("@SothebAIs bid 1 WETH", "other_currency");
    invalid("@SothebAIs bid 1 BTC", "other_currency");
    invalid("@SothebAIs bid 150 gwei", "other_currency");
    invalid("@SothebAIs bid 1,5 ETH", "ambiguous_comma");
    invalid("@SothebAIs bid 1e18", "exponent");
    invalid("@SothebAIs bid -1 ETH", "signed");
    invalid("@SothebAIs bid 0 ETH", "zero_amount");
    invalid("@SothebAIs bid 0.0000000000000000001", "too_precise");
    invalid("@SothebAIs bid", "missing_amount");
    invalid("@SothebAIs bid lots", "unknown_unit");
    invalid("@SothebAIs bid 1O ETH", "unknown_unit");
    invalid("bid 1 ETH #SothebAIs", "no_mention");
    invalid("@SothebAIs bid 1 ETH and withdraw", "several_commands");
}

#[test]
fn links_withdrawals_reminders_questions_and_chatter() {
    let addr = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed";
    let sig = format!("0x{}", "ab".repeat(65));
    let p = parse(&format!("@SothebAIs link {addr} {sig}"), HOST);
    assert_eq!(p.kind, TweetKind::Link);
    assert_eq!(p.address_text.as_deref(), Some(addr));
    assert_eq!(p.signature.as_ref().map(Vec::len), Some(65));
    assert_eq!(
        link_message("alice", &p.address.unwrap(), "@SothebAIs"),
        format!("SothebAIs: link @alice to {addr} (@SothebAIs)")
    );
    invalid("@SothebAIs link 0x1234 0xabcd", "bad_address");
    invalid(&format!("@SothebAIs link {addr} 0xabcd"), "bad_signature");
    assert_eq!(parse("@SothebAIs withdraw", HOST).kind, TweetKind::Withdraw);
    invalid("@SothebAIs withdraw 1 ETH", "partial_withdraw");
    assert_eq!(parse("@SothebAIs remind me!", HOST).kind, TweetKind::Remind);
    assert_eq!(
        parse("@SothebAIs when does it start?", HOST).kind,
        TweetKind::Question
    );
    let chatter = parse("@SothebAIs love this art", HOST);
    assert_eq!(
        (chatter.kind, chatter.reason),
        (TweetKind::Ignored, Some("no_command"))
    );
    assert_eq!(
        parse("RT @SothebAIs: bid 1 ETH", HOST).reason,
        Some("retweet")
    );
    // Look-alike letters do not make a command.
    assert_eq!(parse("@SothebAIs bіd 1 ETH", HOST).kind, TweetKind::Ignored);
}

#[test]
fn a_ceiling_is_a_bid_with_max() {
    let p = parse("@SothebAIs bid max 5 ETH", HOST);
    assert_eq!(
        (p.kind, p.amount),
        (TweetKind::Ceiling, Some(Wei::parse("5").unwrap()))
    );
    assert_eq!(
        parse("@SothebAIs BID MAX 2.5eth", HOST).kind,
        TweetKind::Ceiling
    );
    let bad = parse("@SothebAIs bid max", HOST);
    assert_eq!(
        (bad.kind, bad.reason),
        (TweetKind::Invalid, Some("missing_amount"))
    );
    assert_eq!(
        parse("@SothebAIs bid max １ ETH", HOST).reason,
        Some("lookalike_digits")
    );
}

#[test]
fn self_service_commands_are_the_whole_tweet() {
    for (text, kind) in [
        ("@SothebAIs my bids", TweetKind::MyBids),
        ("@SothebAIs My bids?", TweetKind::MyBids),
        ("@SothebAIs balance #SothebAIs", TweetKind::Balance),
        ("@SothebAIs HELP!", TweetKind::Help),
        ("@SothebAIs stop", TweetKind::Stop),
        ("@SothebAIs start.", TweetKind::Start),
    ] {
        assert_eq!(parse(text, HOST).kind, kind, "{text}");
    }
    // The word inside other talk is no command.
    assert_eq!(
        parse("@SothebAIs please don't stop the music", HOST).kind,
        TweetKind::Ignored
    );
    assert_eq!(
        parse("@SothebAIs what is my balance?", HOST).kind,
        TweetKind::Question
    );
    // Not addressed to the host: ignored.
    assert_eq!(parse("stop", HOST).kind, TweetKind::Ignored);
}

#[test]
fn explain_prints_the_outcome_and_checks_signatures() {
    let e = explain("@SothebAIs bid 2.5 ETH", HOST, None);
    assert_eq!(e.kind, "bid");
    assert_eq!(e.amount_wei.as_deref(), Some("2500000000000000000"));
    let json = serde_json::to_value(&e).unwrap();
    assert_eq!(json["amount_wei"], "2500000000000000000");
    let link = format!(
        "@SothebAIs link 0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed 0x{}",
        "11".repeat(65)
    );
    let e = explain(&link, HOST, Some("alice"));
    assert_eq!((e.kind, e.signature_valid), ("invalid", Some(false)));
}

/// Kinds and their guarantees: what every outcome must carry.
fn well_formed(p: &Parsed) -> Result<(), String> {
    match p.kind {
        TweetKind::Bid | TweetKind::Ceiling => {
            let a = p.amount.ok_or("a bid without an amount")?;
            if a == Wei::ZERO || !p.mentions_host || p.reason.is_some() {
                return Err(format!("bad bid {p:?}"));
            }
        }
        TweetKind::Link => {
            if p.address.is_none() || p.signature.as_ref().map(Vec::len) != Some(65) {
                return Err(format!("bad link {p:?}"));
            }
        }
        TweetKind::Invalid | TweetKind::Ignored => {
            if p.reason.is_none() {
                return Err(format!("no reason {p:?}"));
            }
        }
        TweetKind::MyBids
        | TweetKind::Balance
        | TweetKind::Help
        | TweetKind::Stop
        | TweetKind::Start => {
            if !p.mentions_host || p.reason.is_some() {
                return Err(format!("bad self-service command {p:?}"));
            }
        }
        TweetKind::Withdraw | TweetKind::Remind | TweetKind::Question => {}
    }
    if p.message.is_empty() {
        return Err("no message".into());
    }
    Ok(())
}

fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("@SothebAIs".to_string()),
        Just("@sothebais,".to_string()),
        Just("bid".to_string()),
        Just("max".to_string()),
        Just("BID:".to_string()),
        Just("link".to_string()),
        Just("withdraw".to_string()),
        Just("remind me".to_string()),
        Just("my bids".to_string()),
        Just("balance".to_string()),
        Just("stop".to_string()),
        Just("#SothebAIs".to_string()),
        Just("ETH".to_string()),
        Just("eth.".to_string()),
        Just("$".to_string()),
        Just("USDC".to_string()),
        Just("Ξ".to_string()),
        Just("?".to_string()),
        Just("１".to_string()),
        Just("\u{200B}".to_string()),
        Just("&amp;".to_string()),
        Just("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed".to_string()),
        "[0-9]{0,25}(\\.[0-9]{0,25})?",
        "0x[0-9a-f]{0,140}",
        "\\PC{0,12}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    /// Arbitrary text: no panic, and every outcome is one of the defined ones, well formed.
    #[test]
    fn any_text_has_a_defined_outcome(text in "\\PC{0,300}") {
        let p = parse(&text, HOST);
        prop_assert!(well_formed(&p).is_ok(), "{:?}: {:?}", text, well_formed(&p));
    }

    /// Text built from the grammar's own pieces, in any order.
    #[test]
    fn grammar_pieces_in_any_order(parts in proptest::collection::vec(fragment(), 0..12)) {
        let text = parts.join(" ");
        let p = parse(&text, HOST);
        prop_assert!(well_formed(&p).is_ok(), "{:?}: {:?}", text, well_formed(&p));
    }

    /// Any exact amount survives the trip through a tweet.
    #[test]
    fn amounts_are_read_exactly(wei in 1u128..=u128::from(u64::MAX) * 1000) {
        let amount = Wei(wei);
        let text = format!("@SothebAIs bid {} ETH", amount.eth_string());
        let p = parse(&text, HOST);
        prop_assert_eq!(p.amount, Some(amount));
    }
}
