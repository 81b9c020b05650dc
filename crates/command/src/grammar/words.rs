//! The words of the grammar table, gathered once when a [`Grammar`] is made:
//! what a typo is compared against, what never names an app, where a name
//! ends. Group names (`ref_or_env`) and placeholders are not words.

use crate::table::{ROWS, expand};

#[cfg(doc)]
use super::Grammar;
use super::normalize::{LEADING_FILLER, LEADING_PHRASES, TRAILING_FILLER, TRAILING_PHRASES};

/// Every word of three or more letters in the table's patterns and usage
/// lines, plus the stage words: what a typo is compared against.
pub(super) fn vocabulary() -> Vec<String> {
    table_words(3)
}

/// Every word the grammar itself reads (pattern and usage words of any
/// length, stage words, filler): none of them can be an app's name when no
/// apps are configured, or `deploy my branch foo` would be ambiguous.
pub(super) fn grammar_words() -> Vec<String> {
    let mut words = table_words(1);
    let phrases = LEADING_PHRASES
        .iter()
        .flat_map(|p| p.iter())
        .chain(TRAILING_PHRASES.iter().flat_map(|(a, b)| [a, b]));
    words.extend(
        LEADING_FILLER
            .iter()
            .chain(TRAILING_FILLER)
            .chain(phrases)
            .map(|w| w.to_ascii_lowercase()),
    );
    words.sort();
    words.dedup();
    words
}

/// Every word the table's patterns match literally, placeholders expanded
/// (`ship`, `another`, `day`), and the stage words: where a name ends.
pub(super) fn pattern_words() -> Vec<String> {
    let mut words: Vec<String> = STAGE_WORDS.iter().map(|w| (*w).to_owned()).collect();
    for pattern in ROWS.iter().flat_map(|row| row.patterns.iter()) {
        let expanded = expand(pattern);
        let mut pieces = expanded.split(|c: char| !c.is_ascii_alphabetic() && c != '_');
        while let Some(piece) = pieces.next() {
            if piece == "P" {
                pieces.next(); // `(?P<name>`: a group's name, not a word
            } else if !piece.is_empty() {
                words.push(piece.to_owned());
            }
        }
    }
    words.sort();
    words.dedup();
    words
}

/// Words for stages and envs that the patterns read through placeholders.
const STAGE_WORDS: [&str; 6] = [
    "staging",
    "prod",
    "production",
    "dev",
    "envs",
    "environments",
];

/// The words of at least `min_len` letters in the table, and the stage words.
fn table_words(min_len: usize) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    let mut add = |text: &str| {
        let mut skip_group_name = false;
        for piece in text.split(|c: char| !c.is_ascii_alphabetic() && !"_<{".contains(c)) {
            // `?P<name>`, `<placeholder>` and `{placeholder}` are not words people type.
            if piece.starts_with('<') || piece.starts_with('{') || skip_group_name {
                skip_group_name = false;
                continue;
            }
            if piece == "P" {
                skip_group_name = true;
                continue;
            }
            let lower = piece.to_ascii_lowercase();
            if lower.len() >= min_len && !words.contains(&lower) {
                words.push(lower);
            }
        }
    };
    for row in ROWS {
        row.patterns.iter().for_each(|p| add(p));
        row.usage.iter().for_each(|u| add(u));
    }
    for word in STAGE_WORDS {
        add(word);
    }
    words.sort();
    words
}
