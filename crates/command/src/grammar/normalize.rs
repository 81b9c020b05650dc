//! Chat text to the normalised line the patterns read: single spaces,
//! Slack's entities decoded, and what people put around a command (a bot
//! name or mention, `!`, greetings, "please", "thanks", end punctuation)
//! stripped. Knows words, not commands.

use std::borrow::Cow;

/// Collapses whitespace, decodes Slack's `&amp; &lt; &gt;`, and strips
/// what people put around a command: a bot name or mention, a leading
/// `!` or `/rushbox`, greetings, "please", "thanks" and end punctuation.
pub(super) fn normalize<'t>(text: &'t str, bot_names: &[String]) -> Cow<'t, str> {
    if is_normal(text, bot_names) {
        return Cow::Borrowed(text);
    }
    let decoded;
    let text = if text.contains('&') {
        decoded = text
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&");
        decoded.as_str()
    } else {
        text
    };
    let mut words: Vec<&str> = text.split_whitespace().collect();
    let mut start = 0;
    loop {
        let rest = &words[start..];
        let Some(first) = rest.first() else { break };
        let bare = first.trim_end_matches([',', ':', ';']);
        let lower = bare.to_ascii_lowercase();
        let addressed = lower.trim_start_matches(['@', '/', '!']);
        if (bare.starts_with("<@") && bare.ends_with('>'))
            || bare == "!"
            || bot_names.iter().any(|n| n == addressed)
            || LEADING_FILLER.contains(&lower.as_str())
        {
            start += 1;
            continue;
        }
        if let Some(n) = LEADING_PHRASES.iter().find_map(|phrase| {
            let n = phrase.len();
            (rest.len() > n
                && rest[..n]
                    .iter()
                    .zip(phrase.iter())
                    .all(|(w, p)| w.trim_end_matches(',').eq_ignore_ascii_case(p)))
            .then_some(n)
        }) {
            start += n;
            continue;
        }
        if first.len() > 1 && first.starts_with('!') {
            words[start] = &first[1..];
        }
        break;
    }
    let mut end = words.len();
    loop {
        if end <= start {
            break;
        }
        let last = words[end - 1].trim_end_matches(TRAILING_PUNCTUATION);
        if last.is_empty() && end - start == 1 {
            break; // a lone `?` is a question, not punctuation
        }
        if last.is_empty() || last == ":)" {
            end -= 1;
            continue;
        }
        words[end - 1] = last;
        // After a preposition the word is an argument: `history for ty`
        // names the app `ty`, it does not thank anyone.
        let after_preposition = end - start > 1
            && PREPOSITIONS
                .iter()
                .any(|p| p.eq_ignore_ascii_case(words[end - 2]));
        if end - start > 1
            && !after_preposition
            && TRAILING_FILLER.iter().any(|f| f.eq_ignore_ascii_case(last))
        {
            end -= 1;
            continue;
        }
        if end - start > 2
            && TRAILING_PHRASES.iter().any(|(a, b)| {
                words[end - 2].eq_ignore_ascii_case(a) && last.eq_ignore_ascii_case(b)
            })
        {
            end -= 2;
            continue;
        }
        break;
    }
    if end <= start {
        return Cow::Borrowed("");
    }
    Cow::Owned(words[start..end].join(" "))
}

/// The common case, checked without allocating: single spaces, nothing
/// to decode, and no word at either end that [`normalize`] strips.
fn is_normal(text: &str, bot_names: &[String]) -> bool {
    let bytes = text.as_bytes();
    let (Some(&first_byte), Some(&last_byte)) = (bytes.first(), bytes.last()) else {
        return false;
    };
    if first_byte == b' '
        || last_byte == b' '
        || TRAILING_PUNCTUATION
            .iter()
            .any(|&p| p.is_ascii() && p as u8 == last_byte)
        || !bytes.is_ascii()
        || bytes
            .iter()
            .any(|&b| b == b'&' || (b.is_ascii_whitespace() && b != b' '))
        || bytes.windows(2).any(|w| w == b"  ")
    {
        return false;
    }
    let first = text.split(' ').next().unwrap_or(text);
    let last = text.rsplit(' ').next().unwrap_or(text);
    let lower_first = first.trim_end_matches([',', ':', ';']);
    let is = |word: &str, list: &[&str]| list.iter().any(|w| w.eq_ignore_ascii_case(word));
    !(first.starts_with(['<', '!', '/', '@'])
        || lower_first.len() != first.len()
        || is(first, LEADING_FILLER)
        || bot_names.iter().any(|n| n.eq_ignore_ascii_case(first))
        || LEADING_PHRASES
            .iter()
            .any(|p| p[0].eq_ignore_ascii_case(first))
        || last == ":)"
        || is(last, TRAILING_FILLER)
        || TRAILING_PHRASES
            .iter()
            .any(|(_, b)| b.eq_ignore_ascii_case(last)))
}

/// Words people put before a command: greetings, politeness, hesitation.
pub(super) const LEADING_FILLER: &[&str] = &[
    "hey", "hi", "hello", "yo", "ok", "okay", "please", "pls", "plz", "kindly", "just", "um", "uh",
    "hmm", "so", "quick", "quickly", "also", "then", "folks", "team", "bot",
];

/// Phrases people put before a command (`can you`, `i'd like to`).
pub(super) const LEADING_PHRASES: &[&[&str]] = &[
    &["would", "you", "mind"],
    &["i", "want", "to"],
    &["i'd", "like", "to"],
    &["i", "would", "like", "to"],
    &["i", "need", "to"],
    &["go", "ahead", "and"],
    &["can", "you"],
    &["could", "you"],
    &["would", "you"],
    &["will", "you"],
    &["can", "u"],
    &["could", "u"],
    &["tell", "me"],
    &["let's"],
    &["lets"],
];

/// Words people put after a command, unless they follow a preposition.
pub(super) const TRAILING_FILLER: &[&str] = &[
    "please", "pls", "plz", "thanks", "thx", "ty", "asap", "kthx", "cheers", "thankyou",
];

/// Words after which a trailing filler word is read as an argument.
const PREPOSITIONS: &[&str] = &[
    "for", "to", "on", "in", "of", "from", "at", "with", "by", "into", "onto", "as",
];

/// Phrases people put after a command.
pub(super) const TRAILING_PHRASES: &[(&str, &str)] =
    &[("thank", "you"), ("for", "me"), ("if", "possible")];

/// Stripped from the end of the last word.
const TRAILING_PUNCTUATION: &[char] = &['?', '!', '.', ',', ';', '…'];
