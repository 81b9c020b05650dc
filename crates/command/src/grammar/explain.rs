//! Why a line no pattern reads is still refused: a name where the patterns
//! expect one breaks its rule (`deploy $(touch /tmp/x) to dev`). It re-reads
//! the line through the parser with stand-in names, and only ever turns
//! "not understood" into "this name breaks this rule".

use crate::command::{ParseError, Report};
use crate::names::{AppName, EnvName, ReleaseId, UserRef};

use super::Grammar;

impl Grammar {
    /// Why a line no pattern reads is still refused: where the patterns
    /// expect one name, it has words that break a name's rules
    /// (`deploy $(touch /tmp/x) to dev`, `status ../../etc`). Each run of
    /// such words is put back as one stand-in name, a branch's or an env's;
    /// when the line then reads as a command, the words where the stand-in
    /// landed are checked by the rule of that place (branch, env, app, user,
    /// release) and the first broken rule is the answer. `None`: no name
    /// in the line breaks a rule, so it is simply not understood.
    pub(super) fn bad_name_in(&self, line: &str) -> Option<ParseError> {
        /// At most this many runs are stood in for: 2^3 readings at worst.
        const MAX_RUNS: usize = 3;
        let words: Vec<&str> = line.split(' ').collect();
        if !words.iter().any(|word| is_odd_word(word)) {
            return None;
        }
        // The runs of words between the grammar's own words that have an odd word in them.
        let mut runs: Vec<std::ops::Range<usize>> = Vec::new();
        let (mut start, mut odd) = (0, false);
        for (i, word) in words.iter().enumerate() {
            if self.is_grammar_word(word) {
                if odd {
                    runs.push(start..i);
                }
                (start, odd) = (i + 1, false);
            } else {
                odd |= is_odd_word(word);
            }
        }
        if odd {
            runs.push(start..words.len());
        }
        runs.truncate(MAX_RUNS);
        let mut text = String::with_capacity(line.len());
        for as_env in 0u32..(1 << runs.len()) {
            text.clear();
            let mut next = 0;
            for (index, run) in runs.iter().enumerate() {
                for word in &words[next..run.start] {
                    text.push_str(word);
                    text.push(' ');
                }
                if as_env & (1 << index) != 0 {
                    text.push_str(STAND_IN_ENV);
                } else {
                    text.push_str(STAND_IN_REF);
                }
                text.push(index_letter(index));
                text.push(' ');
                next = run.end;
            }
            for word in &words[next..] {
                text.push_str(word);
                text.push(' ');
            }
            text.pop();
            let Some(Ok(command)) = self.parse_normalized(&text) else {
                continue;
            };
            let report = Report::of_command(&command);
            let places = [
                (Place::App, &report.app),
                (Place::Branch, &report.git_ref),
                (Place::Env, &report.source),
                (Place::Env, &report.target),
                (Place::User, &report.user),
                (Place::Release, &report.release),
            ];
            for (place, value) in places {
                let Some(value) = value.as_deref() else {
                    continue;
                };
                let Some((index, stood_for)) = stand_in_of(value, place) else {
                    continue;
                };
                let Some(run) = runs.get(index) else {
                    continue;
                };
                if let Some(error) = self.broken_rule(stood_for, &words[run.clone()]) {
                    return Some(error);
                }
            }
        }
        None
    }

    /// A word the grammar reads itself (`deploy!`, `to`, `what's`, `-`), so a
    /// name never spans it.
    fn is_grammar_word(&self, word: &str) -> bool {
        let bare = word.strip_suffix('!').unwrap_or(word);
        let contraction = bare.split_once('\'').is_some_and(|(a, b)| {
            !a.is_empty()
                && a.bytes().all(|c| c.is_ascii_alphabetic())
                && b.bytes().all(|c| c.is_ascii_alphabetic())
        });
        contraction
            || word.bytes().all(|c| b"-:,".contains(&c))
            || self
                .pattern_words
                .binary_search(&bare.to_ascii_lowercase())
                .is_ok()
    }

    /// The first of `words` that breaks the rule of `place`, or, when each
    /// passes alone, the words together (a name has no spaces).
    fn broken_rule(&self, place: Place, words: &[&str]) -> Option<ParseError> {
        let check = |name: &str| -> Result<(), ParseError> {
            let bad = |role| move |error| ParseError::BadName { role, error };
            match place {
                Place::Branch => self.builder.git_ref(name).map(drop),
                Place::Env => EnvName::from_user(name).map(drop).map_err(bad("env")),
                Place::App => AppName::parse(name).map(drop).map_err(bad("app")),
                Place::User => UserRef::parse(name).map(drop).map_err(bad("user")),
                Place::Release => ReleaseId::parse(name).map(drop).map_err(bad("release")),
            }
        };
        words
            .iter()
            .find_map(|word| check(word).err())
            .or_else(|| check(&words.join(" ")).err())
    }
}

/// Where a name stands in a command, by the rule that made it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Branch,
    Env,
    App,
    User,
    Release,
}

/// Stand-ins for runs of odd words ([`Grammar::bad_name_in`]), each followed by
/// a letter that says which run: a valid branch (and, without configured
/// apps, app) name, and a dev env's name. Nobody types them.
pub(super) const STAND_IN_REF: &str = "rushboxstandin";
const STAND_IN_ENV: &str = "dev-rushboxstandin-env";

fn index_letter(index: usize) -> char {
    char::from(b'a' + index as u8)
}

/// Which run a name in a command stands in for, and the place whose rule
/// applies: a branch stand-in is a branch wherever it lands (an env made
/// from it, `my env for <branch>`, is still a branch's place), unless it
/// landed where an app, user or release goes.
fn stand_in_of(value: &str, place: Place) -> Option<(usize, Place)> {
    let lower = value.to_ascii_lowercase();
    let index = |rest: &str| {
        let &[letter] = rest.as_bytes() else {
            return None;
        };
        (letter.is_ascii_lowercase()).then(|| usize::from(letter - b'a'))
    };
    if let Some(rest) = lower.strip_prefix(STAND_IN_ENV) {
        return index(rest).map(|i| (i, Place::Env));
    }
    let branch = lower.strip_prefix("dev-").unwrap_or(&lower);
    let rest = branch.strip_prefix(STAND_IN_REF)?;
    let place = match place {
        Place::Env => Place::Branch,
        other => other,
    };
    index(rest).map(|i| (i, place))
}

/// A word that is not plain letters, digits and `-`, so it may break a
/// name's rules where a name belongs (`$(touch`, `../../etc`, `Feat_X`, `-x`).
fn is_odd_word(word: &str) -> bool {
    let bare = word.strip_suffix('!').unwrap_or(word);
    bare.is_empty()
        || bare.starts_with('-')
        || !bare.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-')
}
