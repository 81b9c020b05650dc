//! Which table patterns match a normalised line, and what their named groups
//! captured. Knows regex-automata and the table's group names; what the
//! captured words mean is `build`'s business.
//!
//! One multi-pattern search says which patterns match, then a bounded
//! backtracker fills the groups of each, in table order. Per-thread caches
//! and captures are reused from a pool, so a parse allocates little.

use regex_automata::nfa::thompson::{
    self,
    backtrack::{self, BoundedBacktracker},
};
use regex_automata::util::captures::Captures;
use regex_automata::util::pool::Pool;
use regex_automata::util::syntax;
use regex_automata::{Anchored, Input, PatternSet, meta};

use crate::intent::Intent;
use crate::table::{ROWS, expand};

/// The named groups the table's patterns use (a repeated `env2` is read as `env`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Group {
    /// What follows a deploy verb: a branch, or an env, which makes the line a promotion.
    RefOrEnv,
    Ref,
    Env,
    /// The env a promotion or a reset copies from.
    Source,
    Target,
    User,
    Release,
    App,
    Stage,
    Reason,
    Topic,
    Duration,
    Force,
    /// A deploy verb with nothing after it.
    BareVerb,
    /// A branch after `spin up`: an env there is a wake, not a deploy.
    RefNotEnv,
}

impl Group {
    const ALL: [Group; 15] = [
        Group::RefOrEnv,
        Group::Ref,
        Group::Env,
        Group::Source,
        Group::Target,
        Group::User,
        Group::Release,
        Group::App,
        Group::Stage,
        Group::Reason,
        Group::Topic,
        Group::Duration,
        Group::Force,
        Group::BareVerb,
        Group::RefNotEnv,
    ];

    /// The group's name in the table's patterns.
    fn name(self) -> &'static str {
        match self {
            Group::RefOrEnv => "ref_or_env",
            Group::Ref => "ref",
            Group::Env => "env",
            Group::Source => "source",
            Group::Target => "target",
            Group::User => "user",
            Group::Release => "release",
            Group::App => "app",
            Group::Stage => "stage",
            Group::Reason => "reason",
            Group::Topic => "topic",
            Group::Duration => "duration",
            Group::Force => "force",
            Group::BareVerb => "bare_verb",
            Group::RefNotEnv => "ref_not_env",
        }
    }
}

/// One compiled table pattern.
struct Pattern {
    intent: Intent,
    regex: BoundedBacktracker,
    /// (group, capture index): `env2` is read as `env`.
    groups: Vec<(Group, usize)>,
}

/// Search state for one thread: the set's cache and match set, and each
/// pattern's backtracker cache and captures. Reused, so a parse allocates little.
struct Scratch {
    /// The line, ASCII-lowercased, for matching.
    lower: String,
    set_cache: meta::Cache,
    matched: PatternSet,
    patterns: Vec<(backtrack::Cache, Captures)>,
}

type ScratchFn = Box<dyn Fn() -> Scratch + Send + Sync>;

/// The table's patterns, compiled once.
pub(super) struct Patterns {
    /// All patterns at once: which of them match a line.
    set: meta::Regex,
    /// One entry per pattern, in table order.
    patterns: Vec<Pattern>,
    /// Per-thread search state for each pattern, reused so a parse allocates little.
    scratch: Pool<Scratch, ScratchFn>,
}

/// The captures of one match, looked up by group, unquoted.
pub(super) struct Captured<'a, 'h> {
    line: &'h str,
    captures: &'a Captures,
    groups: &'a [(Group, usize)],
}

impl<'h> Captured<'_, 'h> {
    pub(super) fn get(&self, group: Group) -> Option<&'h str> {
        self.groups
            .iter()
            .filter(|(base, _)| *base == group)
            .find_map(|(_, index)| self.captures.get_group(*index))
            // Groups start and end at ASCII, so this never fails; if it did, the group is absent.
            .and_then(|span| self.line.get(span.range()))
            .map(unquote)
    }
}

impl Patterns {
    /// Compiles every pattern of the table.
    pub(super) fn compile() -> Patterns {
        let mut sources = Vec::new();
        let mut patterns = Vec::new();
        for row in ROWS {
            for pattern in row.patterns {
                let source = expand(pattern);
                // The table is a constant checked by the tests; a bad pattern is a bug here.
                let regex = BoundedBacktracker::builder()
                    .syntax(syntax::Config::new().unicode(false).utf8(false))
                    .thompson(thompson::Config::new().utf8(false))
                    // Enough for the longest line we accept (MAX_LINE_BYTES) on any table pattern.
                    .configure(backtrack::Config::new().visited_capacity(8 << 20))
                    .build(&source)
                    .expect("grammar table pattern compiles");
                sources.push(source);
                let groups = regex
                    .get_nfa()
                    .group_info()
                    .pattern_names(regex_automata::PatternID::ZERO)
                    .enumerate()
                    .filter_map(|(index, name)| {
                        let base = name?.trim_end_matches(|c: char| c.is_ascii_digit());
                        // The table is a constant checked by the tests: every group is a `Group`.
                        let group = Group::ALL
                            .into_iter()
                            .find(|g| g.name() == base)
                            .expect("a known group name");
                        Some((group, index))
                    })
                    .collect();
                patterns.push(Pattern {
                    intent: row.intent,
                    regex,
                    groups,
                });
            }
        }
        let set = meta::Regex::builder()
            .syntax(syntax::Config::new().unicode(false).utf8(false))
            .configure(
                meta::Config::new()
                    .match_kind(regex_automata::MatchKind::All)
                    .utf8_empty(false),
            )
            .build_many(&sources)
            .expect("grammar table compiles as a set");
        let engines: Vec<BoundedBacktracker> = patterns.iter().map(|p| p.regex.clone()).collect();
        let set_engine = set.clone();
        let scratch = Pool::new(Box::new(move || Scratch {
            lower: String::new(),
            set_cache: set_engine.create_cache(),
            matched: PatternSet::new(set_engine.pattern_len()),
            patterns: engines
                .iter()
                .map(|re| (re.create_cache(), re.create_captures()))
                .collect(),
        }) as ScratchFn);
        Patterns {
            set,
            patterns,
            scratch,
        }
    }

    /// Hands each pattern that matches `line`, in table order, with its
    /// intent and captures to `read`, until `read` returns `Some`.
    pub(super) fn find_map<T>(
        &self,
        line: &str,
        mut read: impl FnMut(Intent, &Captured) -> Option<T>,
    ) -> Option<T> {
        let mut scratch = self.scratch.get();
        let Scratch {
            lower,
            set_cache,
            matched,
            patterns,
        } = &mut *scratch;
        lower.clear();
        lower.push_str(line);
        lower.make_ascii_lowercase();
        matched.clear();
        let input = Input::new(lower.as_bytes()).anchored(Anchored::Yes);
        self.set
            .which_overlapping_matches_with(set_cache, &input, matched);
        for id in matched.iter() {
            let index = id.as_usize();
            let pattern = &self.patterns[index];
            let (cache, captures) = &mut patterns[index];
            let input = Input::new(lower.as_bytes()).anchored(Anchored::Yes);
            if pattern.regex.try_captures(cache, input, captures).is_err() || !captures.is_match() {
                continue;
            }
            let captured = Captured {
                line,
                captures,
                groups: &pattern.groups,
            };
            if let Some(found) = read(pattern.intent, &captured) {
                return Some(found);
            }
        }
        None
    }
}

/// Strips one pair of backticks or quotes people put around names in chat.
fn unquote(token: &str) -> &str {
    for quote in ['`', '"', '\''] {
        if token.len() >= 3 && token.starts_with(quote) && token.ends_with(quote) {
            return &token[1..token.len() - 1];
        }
    }
    token
}
