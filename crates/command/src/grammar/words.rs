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
        words.extend(words_in(&expand(pattern)));
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
    let texts = ROWS
        .iter()
        .flat_map(|row| row.patterns.iter().chain(row.usage))
        .chain(&STAGE_WORDS);
    for text in texts {
        for word in words_in(text) {
            if word.len() >= min_len && !words.contains(&word) {
                words.push(word);
            }
        }
    }
    words.sort();
    words
}

/// The runs of letters in a pattern or usage line, lowercased, without
/// what nobody types: group names (`?P<ref>`) and placeholders (`<ref>`, `{env}`).
fn words_in(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut rest = text;
    loop {
        let (head, tail) = match rest.find(['<', '{']) {
            Some(open) => {
                let close = if rest.as_bytes()[open] == b'<' {
                    '>'
                } else {
                    '}'
                };
                let head = &rest[..open];
                let after = &rest[open..];
                let tail = after.find(close).map_or("", |end| &after[end + 1..]);
                (head.strip_suffix("?P").unwrap_or(head), Some(tail))
            }
            None => (rest, None),
        };
        words.extend(
            head.split(|c: char| !c.is_ascii_alphabetic())
                .filter(|piece| !piece.is_empty())
                .map(|piece| piece.to_ascii_lowercase()),
        );
        match tail {
            Some(tail) => rest = tail,
            None => return words,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{grammar_words, pattern_words, vocabulary, words_in};

    #[test]
    fn group_names_and_placeholders_are_not_words() {
        assert_eq!(
            words_in(r"(?P<ref_not_env>[^ ]+) unlock{force} to <env> {the}{env}"),
            ["unlock", "to"]
        );
        for word in vocabulary()
            .iter()
            .chain(&grammar_words())
            .chain(&pattern_words())
        {
            assert!(
                word.bytes().all(|c| c.is_ascii_lowercase() || c == b'\''),
                "`{word}` is not a word people type"
            );
        }
    }
}
