//! "Did you mean": for a line that is not understood, the canonical commands
//! it would be with a typo fixed (`deplyo foo to stagign`), or the usage lines
//! of its verb. It re-reads corrected lines through the parser; never runs one.

use crate::command::ParseError;
use crate::table::ROWS;

use super::Grammar;

impl Grammar {
    /// "Did you mean": replace words that are near a grammar word (typos such
    /// as `deplyo`, `stagign`) and keep the readings that parse.
    pub(super) fn suggest(&self, line: &str) -> Vec<String> {
        let words: Vec<&str> = line.split(' ').collect();
        let mut suggestions: Vec<String> = Vec::new();
        let mut corrected = words.iter().map(|w| (*w).to_owned()).collect::<Vec<_>>();
        let mut corrections = 0;
        for (i, word) in words.iter().enumerate().take(16) {
            let candidates = self.vocabulary.near_words(word);
            if let Some(best) = candidates.first() {
                corrected[i] = best.clone();
                corrections += 1;
            }
            for candidate in candidates.iter().take(3) {
                let mut attempt = words.iter().map(|w| (*w).to_owned()).collect::<Vec<_>>();
                attempt[i] = candidate.clone();
                self.push_if_parses(&attempt.join(" "), &mut suggestions);
            }
        }
        // One correction alone was tried above; two or more (`deplyo foo to stagign`) together here.
        if corrections > 1 {
            self.push_if_parses(&corrected.join(" "), &mut suggestions);
        }
        if suggestions.is_empty() {
            // The verb is right (or close) but the rest is not: show how to say it.
            let first = corrected
                .first()
                .map(|w| w.to_ascii_lowercase())
                .unwrap_or_default();
            if let Some(row) = ROWS.iter().find(|row| {
                row.usage
                    .iter()
                    .any(|u| u.split(' ').next() == Some(first.as_str()))
            }) {
                suggestions.extend(row.usage.iter().map(|u| (*u).to_owned()));
            }
        }
        suggestions.truncate(3);
        suggestions
    }

    fn push_if_parses(&self, line: &str, suggestions: &mut Vec<String>) {
        if let Some(Ok(command)) = self.parse_normalized(line) {
            let text = command.to_string();
            if !suggestions.contains(&text) {
                suggestions.push(text);
            }
        }
    }

    /// An invalid command gets the command it would be with the bad part fixed, where we can tell.
    pub(super) fn suggest_for_invalid(&self, error: &ParseError) -> Vec<String> {
        match error {
            ParseError::Incomplete { usage, .. } if !usage.contains('<') => vec![usage.clone()],
            _ => Vec::new(),
        }
    }
}

/// The words a typo is compared against, sorted, each with its letters counted.
pub(super) struct Vocabulary {
    words: Vec<String>,
    /// `letter_bag` of each word.
    bags: Vec<[u8; 26]>,
}

impl Vocabulary {
    /// `words` must be sorted and free of duplicates.
    pub(super) fn new(words: Vec<String>) -> Vocabulary {
        let bags = words.iter().map(|w| letter_bag(w.as_bytes())).collect();
        Vocabulary { words, bags }
    }

    /// Adds words (configured env names), keeping the list sorted.
    pub(super) fn extend(self, more: impl IntoIterator<Item = String>) -> Vocabulary {
        let mut words = self.words;
        words.extend(more);
        words.sort();
        words.dedup();
        Vocabulary::new(words)
    }

    /// Grammar words within a small edit distance of `word`, nearest first;
    /// empty when the word is itself a grammar word or too short to judge.
    fn near_words(&self, word: &str) -> Vec<String> {
        let lower = word.to_ascii_lowercase();
        if lower.len() < 3 || !lower.chars().all(|c| c.is_ascii_alphabetic()) {
            return Vec::new();
        }
        if self.words.binary_search(&lower).is_ok() {
            return Vec::new();
        }
        let limit = if lower.len() <= 4 { 1 } else { 2 };
        let bytes = lower.as_bytes();
        let bag = letter_bag(bytes);
        // Typos keep the first letter or swap the first two, and each edit
        // changes the multiset of letters by at most one either way (a swap
        // not at all): cheap tests that keep an unknown line cheap.
        // The vocabulary is sorted: the words starting with one letter are a
        // run of it, so only two runs are ever looked at.
        let run = |first: u8| {
            let start = self.words.partition_point(|w| w.as_bytes()[0] < first);
            let end = self.words.partition_point(|w| w.as_bytes()[0] <= first);
            start..end
        };
        let swapped = (bytes[1] != bytes[0]).then(|| run(bytes[1]));
        let mut near: Vec<(usize, &String)> = run(bytes[0])
            .chain(swapped.into_iter().flatten())
            .map(|i| (&self.words[i], &self.bags[i]))
            .filter(|(known, known_bag)| {
                let k = known.as_bytes();
                k.len().abs_diff(bytes.len()) <= limit
                    && (k[0] == bytes[0] || (k.len() > 1 && k[0] == bytes[1] && k[1] == bytes[0]))
                    && bag_distance(&bag, known_bag) <= limit
            })
            .filter_map(|(known, _)| Some((bounded_osa(bytes, known.as_bytes(), limit)?, known)))
            .collect();
        near.sort();
        near.into_iter().map(|(_, known)| known.clone()).collect()
    }
}

/// How many of each letter a lowercase ASCII word has.
fn letter_bag(word: &[u8]) -> [u8; 26] {
    let mut bag = [0u8; 26];
    for &c in word {
        if c.is_ascii_lowercase() {
            bag[usize::from(c - b'a')] = bag[usize::from(c - b'a')].saturating_add(1);
        }
    }
    bag
}

/// A lower bound of the edit distance: the larger of the letters one word
/// has beyond the other, either way.
fn bag_distance(a: &[u8; 26], b: &[u8; 26]) -> usize {
    let (mut surplus, mut deficit) = (0usize, 0usize);
    for (x, y) in a.iter().zip(b) {
        surplus += usize::from(x.saturating_sub(*y));
        deficit += usize::from(y.saturating_sub(*x));
    }
    surplus.max(deficit)
}

/// Optimal-string-alignment distance (edits plus adjacent swaps) between two
/// short ASCII words, or `None` once it must exceed `limit`. No allocation:
/// it runs for every near word of every token of every line not understood.
fn bounded_osa(a: &[u8], b: &[u8], limit: usize) -> Option<usize> {
    const MAX_WORD_LEN: usize = 32;
    if a.len() >= MAX_WORD_LEN || b.len() >= MAX_WORD_LEN {
        return None;
    }
    // Distances stay below MAX_WORD_LEN, so a byte holds them; three short rows keep this in registers and L1.
    let mut rows = [[0u8; MAX_WORD_LEN]; 3];
    for (j, cell) in rows[0].iter_mut().enumerate().take(b.len() + 1) {
        *cell = j as u8;
    }
    for i in 1..=a.len() {
        let (cur, prev, prev2) = (i % 3, (i + 2) % 3, (i + 1) % 3);
        rows[cur][0] = i as u8;
        let mut row_min = i as u8;
        for j in 1..=b.len() {
            let cost = u8::from(a[i - 1] != b[j - 1]);
            let mut d = (rows[prev][j] + 1)
                .min(rows[cur][j - 1] + 1)
                .min(rows[prev][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(rows[prev2][j - 2] + 1);
            }
            rows[cur][j] = d;
            row_min = row_min.min(d);
        }
        if usize::from(row_min) > limit {
            return None;
        }
    }
    let d = usize::from(rows[a.len() % 3][b.len()]);
    (d <= limit).then_some(d)
}

#[cfg(test)]
mod tests {
    use super::bounded_osa;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn bounded_osa_agrees_with_strsim(a in "[a-e]{0,9}", b in "[a-e]{0,9}", limit in 0usize..4) {
            let full = strsim::osa_distance(&a, &b);
            let expected = (full <= limit).then_some(full);
            prop_assert_eq!(bounded_osa(a.as_bytes(), b.as_bytes(), limit), expected);
        }
    }
}
