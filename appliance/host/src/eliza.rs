//! ElizaOS character files into ours: `name`, `bio`, `lore`, `style` (`all`, `chat`, `post`),
//! `adjectives`, `topics`, `messageExamples` and `postExamples` carry over; everything else
//! (plugins, clients, model and settings, secrets, knowledge, the system prompt) is named as not
//! carried, since here the facts and the model are the appliance's, never the character's.

use serde_json::Value;

use crate::character::Character;

/// A converted character and what could not be carried over.
#[derive(Debug)]
pub struct Imported {
    /// The character (checked).
    pub character: Character,
    /// What was left behind, one line each.
    pub not_carried: Vec<String>,
}

/// Strings from a field that ElizaOS writes as a string or a list of strings.
fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

/// The text of a message example's turn (`content.text`).
fn turn_text(turn: &Value) -> Option<String> {
    turn["content"]["text"].as_str().map(str::to_string)
}

/// Converts an ElizaOS character (JSON) into ours.
pub fn import(json: &str) -> Result<Imported, String> {
    let v: Value = serde_json::from_str(json).map_err(|e| format!("not JSON: {e}"))?;
    if !v.is_object() {
        return Err("an ElizaOS character is a JSON object".into());
    }
    let name = v["name"]
        .as_str()
        .ok_or("the character has no name")?
        .trim()
        .to_string();
    let mut c = Character {
        name: name.clone(),
        bio: strings(&v["bio"]),
        lore: strings(&v["lore"]),
        adjectives: strings(&v["adjectives"]),
        post_examples: strings(&v["postExamples"]),
        ..Character::default()
    };
    c.topics.discuss = strings(&v["topics"]);
    let style = &v["style"];
    c.style.stream = [strings(&style["all"]), strings(&style["chat"])].concat();
    c.style.tweets = [strings(&style["all"]), strings(&style["post"])].concat();
    // The character's own turns in its example conversations become example lines.
    for convo in v["messageExamples"].as_array().into_iter().flatten() {
        for turn in convo.as_array().into_iter().flatten() {
            let speaker = turn["user"]
                .as_str()
                .or(turn["name"].as_str())
                .unwrap_or("");
            if speaker.eq_ignore_ascii_case(&name)
                && let Some(text) = turn_text(turn)
            {
                c.examples.push(text);
            }
        }
    }
    let mut not_carried = Vec::new();
    // Lines too long for us are left out, and said so.
    let mut keep = |key: &str, items: &mut Vec<String>, longest: usize| {
        let before = items.len();
        items.retain(|s| !s.trim().is_empty() && s.chars().count() <= longest);
        items.truncate(100);
        if items.len() < before {
            not_carried.push(format!(
                "{key}: {} entries too long (over {longest} characters), empty or beyond 100",
                before - items.len()
            ));
        }
    };
    keep("bio", &mut c.bio, 500);
    keep("lore", &mut c.lore, 500);
    keep("adjectives", &mut c.adjectives, 50);
    keep("examples", &mut c.examples, 280);
    keep("post_examples", &mut c.post_examples, 280);
    keep("style.stream", &mut c.style.stream, 500);
    keep("style.tweets", &mut c.style.tweets, 500);
    keep("topics.discuss", &mut c.topics.discuss, 120);
    if let Some(obj) = v.as_object() {
        let carried = [
            "name",
            "bio",
            "lore",
            "adjectives",
            "postExamples",
            "topics",
            "style",
            "messageExamples",
        ];
        for key in obj.keys() {
            if carried.contains(&key.as_str()) {
                continue;
            }
            let why = match key.as_str() {
                "system" => {
                    "the system prompt: the appliance writes its own, with the auction's facts"
                }
                "settings" | "secrets" => {
                    "settings and secrets: models, keys and voices are the appliance's configuration"
                }
                "plugins" | "clients" | "modelProvider" => {
                    "plugins, clients and the model provider: the host has no tools and no other clients"
                }
                "knowledge" => "knowledge: the host speaks only of the auction's facts",
                "username" => "the username: the host's X account is the campaign's",
                _ => "not part of the appliance's character",
            };
            not_carried.push(format!("{key}: {why}"));
        }
    }
    not_carried.push(
        "moods, catchphrases, topics to avoid and the voice: not in ElizaOS; the defaults are set, edit them"
            .into(),
    );
    c.topics.avoid = vec!["financial advice".into(), "price predictions".into()];
    c.check()?;
    Ok(Imported {
        character: c,
        not_carried,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A character as ElizaOS documents it (fields of both the older and the current format).
    const ELIZA: &str = r#"{
        "name": "Auctioneer",
        "username": "auctioneer",
        "plugins": [],
        "clients": ["twitter"],
        "modelProvider": "openai",
        "settings": {"secrets": {"OPENAI_API_KEY": "sk-not-carried"}, "voice": {"model": "en_US-male-medium"}},
        "system": "Roleplay as an auctioneer.",
        "bio": ["Runs art auctions.", "Loves a bidding war."],
        "lore": "Once sold a painting to a cat.",
        "messageExamples": [[
            {"user": "{{user1}}", "content": {"text": "What is the price?"}},
            {"user": "Auctioneer", "content": {"text": "2 ETH leads; bid 2.1 to take it."}}
        ], [
            {"name": "{{user1}}", "content": {"text": "hi"}},
            {"name": "Auctioneer", "content": {"text": "Welcome to the room!"}}
        ]],
        "postExamples": ["Bidding opens at noon."],
        "topics": ["art", "auctions"],
        "style": {"all": ["brief"], "chat": ["playful"], "post": ["no emojis"]},
        "adjectives": ["quick", "funny"],
        "knowledge": ["Some document."]
    }"#;

    #[test]
    fn an_elizaos_character_carries_over_and_says_what_did_not() {
        let i = import(ELIZA).unwrap();
        let c = &i.character;
        assert_eq!(c.name, "Auctioneer");
        assert_eq!(c.bio.len(), 2);
        assert_eq!(c.lore, ["Once sold a painting to a cat."]);
        assert_eq!(
            c.examples,
            ["2 ETH leads; bid 2.1 to take it.", "Welcome to the room!"]
        );
        assert_eq!(c.style.stream, ["brief", "playful"]);
        assert_eq!(c.style.tweets, ["brief", "no emojis"]);
        assert_eq!(c.topics.discuss, ["art", "auctions"]);
        let left = i.not_carried.join("\n");
        for key in [
            "system",
            "settings",
            "plugins",
            "clients",
            "modelProvider",
            "knowledge",
            "username",
        ] {
            assert!(left.contains(&format!("{key}:")), "{key}: {left}");
        }
        assert!(
            !c.to_toml().contains("sk-not-carried"),
            "a secret never carries over"
        );
        // Round trip: what it writes is a valid character file that reads back the same.
        assert_eq!(&Character::parse(&c.to_toml()).unwrap(), c);
    }

    #[test]
    fn what_is_not_a_character_is_refused_clearly() {
        assert!(import("[1, 2]").unwrap_err().contains("JSON object"));
        assert!(import("{\"bio\": \"x\"}").unwrap_err().contains("no name"));
        assert!(import("{\"name\": \"x\"}").unwrap_err().contains("bio"));
        assert!(import("not json").unwrap_err().contains("not JSON"));
    }
}
