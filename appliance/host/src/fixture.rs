//! Facts shared by the tests of the lines and the answers.

use std::collections::BTreeMap;

use crate::ground::Facts;

/// Template slots as the director fills them, mid-auction, for a returning leader.
pub(crate) fn facts() -> BTreeMap<&'static str, String> {
    [
        ("lot", "Genesis #3"),
        ("artist", "Ada Pixel"),
        ("leader", "ada"),
        ("price", "2.5"),
        ("min_next", "2.6"),
        ("reserve", "1"),
        ("left", "4 minutes"),
        ("returning", "ada"),
        ("champion", "ada"),
        ("last_winner", "bob"),
        ("last_lot", "Genesis #2"),
        ("campaign", "Genesis"),
        ("day", "3"),
        ("days", "30"),
    ]
    .into_iter()
    .map(|(k, v)| (k, v.to_string()))
    .collect()
}

/// The same, as what a line is checked against.
pub(crate) fn grounded() -> Facts {
    Facts {
        numbers: ["2.5", "2.6", "1", "4", "3", "30"]
            .map(String::from)
            .to_vec(),
        amounts: ["2.5", "2.6", "1"].map(String::from).to_vec(),
        handles: vec!["ada".into(), "bob".into()],
        times: vec![],
        lots: vec!["Genesis #3".into(), "Genesis #2".into()],
        catalogue: vec!["Genesis #3".into(), "Genesis #2".into()],
    }
}
