//! The parser: normalise a line, find the first table pattern whose captured
//! names make a valid command, or explain why there is none.
//!
//! Matching uses regex-automata, the engine of the `regex` crate, directly:
//! one multi-pattern search says which patterns match, then a bounded
//! backtracker fills the first one's groups. Per-thread caches and captures
//! are reused from a pool, so a parse allocates little.

use std::borrow::Cow;

use regex_automata::nfa::thompson::{
    self,
    backtrack::{self, BoundedBacktracker},
};
use regex_automata::util::captures::Captures;
use regex_automata::util::pool::Pool;
use regex_automata::util::syntax;
use regex_automata::{Anchored, Input, PatternSet, meta};

use crate::command::{Command, EnvRef, ParseError, Rejection, Report, Target};
use crate::intent::Intent;
use crate::names::{AppName, EnvName, GitRef, NameError, ReleaseId, Span, Stage, UserRef};
use crate::table::{BRANCH_PREFIXES, GIT_REF_PREFIXES, ROWS, expand};

/// Lines longer than this are refused before any matching.
pub const MAX_LINE_BYTES: usize = 4096;
/// Lock reasons longer than this are refused.
pub const MAX_REASON_BYTES: usize = 300;

/// What a pattern's captures amount to.
enum Built {
    Command(Command),
    Invalid(ParseError),
    /// The pattern matched the words, but a name in it is not what the row
    /// expects (`deploy foo to stagign`: `stagign` is no env). Try the next one.
    NoMatch,
}

impl From<Result<Command, ParseError>> for Built {
    fn from(result: Result<Command, ParseError>) -> Built {
        match result {
            Ok(command) => Built::Command(command),
            Err(error) => Built::Invalid(error),
        }
    }
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

/// The named groups the table's patterns use (`env2` is read as `env`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum G {
    Aref,
    Ref,
    Env,
    Src,
    Target,
    User,
    Release,
    App,
    Stage,
    Reason,
    Topic,
    Dur,
    Force,
    Bare,
    Sref,
}

impl G {
    const ALL: [G; 15] = [
        G::Aref,
        G::Ref,
        G::Env,
        G::Src,
        G::Target,
        G::User,
        G::Release,
        G::App,
        G::Stage,
        G::Reason,
        G::Topic,
        G::Dur,
        G::Force,
        G::Bare,
        G::Sref,
    ];

    fn name(self) -> &'static str {
        match self {
            G::Aref => "aref",
            G::Ref => "ref",
            G::Env => "env",
            G::Src => "src",
            G::Target => "target",
            G::User => "user",
            G::Release => "release",
            G::App => "app",
            G::Stage => "stage",
            G::Reason => "reason",
            G::Topic => "topic",
            G::Dur => "dur",
            G::Force => "force",
            G::Bare => "bare",
            G::Sref => "sref",
        }
    }
}

/// One compiled table pattern.
struct Pattern {
    intent: Intent,
    regex: BoundedBacktracker,
    /// (group, capture index): `env2` is read as `env`.
    groups: Vec<(G, usize)>,
}

/// The captures of one match, looked up by base group name, unquoted.
struct Groups<'a, 'h> {
    line: &'h str,
    caps: &'a Captures,
    names: &'a [(G, usize)],
}

impl<'h> Groups<'_, 'h> {
    fn get(&self, name: G) -> Option<&'h str> {
        self.names
            .iter()
            .filter(|(base, _)| *base == name)
            .find_map(|(_, index)| self.caps.get_group(*index))
            // Groups start and end at ASCII, so this never fails; if it did, the group is absent.
            .and_then(|span| self.line.get(span.range()))
            .map(unquote)
    }
}

/// The command grammar, compiled once and shared (it is `Send + Sync`).
///
/// ```
/// use rushbox_command::{Command, Grammar, Target};
/// let grammar = Grammar::new();
/// let command = grammar.parse("@rushbox please deploy branch feature/Login to dev").unwrap();
/// assert!(matches!(command, Command::Deploy { target: Target::Dev, .. }));
/// assert_eq!(command.to_string(), "deploy branch feature/Login to dev");
/// ```
pub struct Grammar {
    /// All patterns at once: which of them match a line.
    set: meta::Regex,
    /// One entry per pattern, in table order.
    patterns: Vec<Pattern>,
    /// Per-thread search state for each pattern, reused so a parse allocates little.
    scratch: Pool<Scratch, ScratchFn>,
    /// Words that appear in the grammar, for "did you mean".
    vocabulary: Vec<String>,
    /// `letter_bag` of each vocabulary word.
    vocabulary_bags: Vec<[u8; 26]>,
    /// Every word the grammar reads, sorted: never an app without config.
    grammar_words: Vec<String>,
    /// Every word of the table's patterns, sorted: a name never spans one.
    pattern_words: Vec<String>,
    /// Configured app names; `None` means "use the branch-prefix rule".
    apps: Option<Vec<String>>,
    /// Env names beyond `prod`, `staging` and `dev-*` that config declares.
    extra_envs: Vec<String>,
    bot_names: Vec<String>,
}

impl Default for Grammar {
    fn default() -> Self {
        Grammar::new()
    }
}

impl Grammar {
    /// The grammar with no configuration: apps are told from branches by
    /// [`BRANCH_PREFIXES`], envs are `prod`, `staging` and `dev-*`, the bot is `rushbox`.
    pub fn new() -> Grammar {
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
                        // The table is a constant checked by the tests: every group is one of G.
                        let group = G::ALL
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
        Grammar {
            set,
            patterns,
            scratch,
            vocabulary_bags: vocabulary()
                .iter()
                .map(|w| letter_bag(w.as_bytes()))
                .collect(),
            vocabulary: vocabulary(),
            grammar_words: grammar_words(),
            pattern_words: pattern_words(),
            apps: None,
            extra_envs: Vec::new(),
            bot_names: vec!["rushbox".to_owned()],
        }
    }

    /// Tells the grammar which apps exist, so `api/foo` is read as app `api`
    /// exactly when `api` is one of them.
    pub fn with_apps<I: IntoIterator<Item = AppName>>(mut self, apps: I) -> Grammar {
        self.apps = Some(apps.into_iter().map(|a| a.as_str().to_owned()).collect());
        self
    }

    /// Declares env names beyond `prod`, `staging` and `dev-*` (say `qa`).
    pub fn with_envs<I: IntoIterator<Item = EnvName>>(mut self, envs: I) -> Grammar {
        self.extra_envs = envs.into_iter().map(|e| e.as_str().to_owned()).collect();
        self.vocabulary.extend(self.extra_envs.iter().cloned());
        self.vocabulary.sort();
        self.vocabulary.dedup();
        self.vocabulary_bags = self
            .vocabulary
            .iter()
            .map(|w| letter_bag(w.as_bytes()))
            .collect();
        self
    }

    /// Names a line may start with to address the bot (besides any `<@mention>`).
    pub fn with_bot_name(mut self, name: &str) -> Grammar {
        self.bot_names.push(name.to_ascii_lowercase());
        self
    }

    /// Parses one line of chat into a command, or says why it is not one.
    pub fn parse(&self, text: &str) -> Result<Command, Rejection> {
        if text.len() > MAX_LINE_BYTES {
            return Err(Rejection::Invalid {
                error: ParseError::LineTooLong { len: text.len() },
                suggestions: Vec::new(),
            });
        }
        let line = self.normalize(text);
        match self.parse_normalized(&line) {
            Some(Ok(command)) => Ok(command),
            Some(Err(error)) => Err(Rejection::Invalid {
                suggestions: self.suggest_for_invalid(&error),
                error,
            }),
            None => match self.bad_name_in(&line) {
                Some(error) => Err(Rejection::Invalid {
                    error,
                    suggestions: Vec::new(),
                }),
                None => Err(Rejection::Unknown {
                    suggestions: self.suggest(&line),
                }),
            },
        }
    }

    /// Parses a line that arrived as bytes (a pipe, a command line): an
    /// overlong line, or bytes that are not UTF-8 text, are invalid.
    ///
    /// ```
    /// use rushbox_command::{Grammar, Rejection};
    /// let Err(Rejection::Invalid { error, .. }) = Grammar::new().parse_bytes(b"deploy \xff") else {
    ///     panic!("not text")
    /// };
    /// assert_eq!(error.to_string(), "that text is not valid UTF-8 (byte 0xff at position 7)");
    /// ```
    pub fn parse_bytes(&self, bytes: &[u8]) -> Result<Command, Rejection> {
        let checked = if bytes.len() > MAX_LINE_BYTES {
            Err(ParseError::LineTooLong { len: bytes.len() })
        } else {
            utf8_text(bytes)
        };
        match checked {
            Ok(text) => self.parse(text),
            Err(error) => Err(Rejection::Invalid {
                error,
                suggestions: Vec::new(),
            }),
        }
    }

    /// `None` when no pattern makes a command of the line.
    fn parse_normalized(&self, line: &str) -> Option<Result<Command, ParseError>> {
        if line.is_empty() {
            return None;
        }
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
            let (cache, caps) = &mut patterns[index];
            let input = Input::new(lower.as_bytes()).anchored(Anchored::Yes);
            if pattern.regex.try_captures(cache, input, caps).is_err() || !caps.is_match() {
                continue;
            }
            let groups = Groups {
                line,
                caps,
                names: &pattern.groups,
            };
            match self.build(pattern.intent, &groups) {
                Built::Command(command) => return Some(Ok(command)),
                Built::Invalid(error) => return Some(Err(error)),
                Built::NoMatch => continue,
            }
        }
        None
    }

    /// Collapses whitespace, decodes Slack's `&amp; &lt; &gt;`, and strips
    /// what people put around a command: a bot name or mention, a leading
    /// `!` or `/rushbox`, greetings, "please", "thanks" and end punctuation.
    pub fn normalize<'t>(&self, text: &'t str) -> Cow<'t, str> {
        if self.is_normal(text) {
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
                || self.bot_names.iter().any(|n| n == addressed)
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
    /// to decode, and no word at either end that [`Grammar::normalize`] strips.
    fn is_normal(&self, text: &str) -> bool {
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
            || self.bot_names.iter().any(|n| n.eq_ignore_ascii_case(first))
            || LEADING_PHRASES
                .iter()
                .any(|p| p[0].eq_ignore_ascii_case(first))
            || last == ":)"
            || is(last, TRAILING_FILLER)
            || TRAILING_PHRASES
                .iter()
                .any(|(_, b)| b.eq_ignore_ascii_case(last)))
    }

    /// Turns one pattern's captures into a command of `intent`.
    fn build(&self, intent: Intent, caps: &Groups) -> Built {
        let group = |name: G| caps.get(name);
        let force = caps.get(G::Force).is_some();
        match intent {
            Intent::Help => {
                let topic = group(G::Topic).map(|t| t.to_ascii_lowercase());
                match topic {
                    Some(t)
                        if t.len() > 60 || !t.chars().all(|c| c.is_ascii_graphic() || c == ' ') =>
                    {
                        Built::NoMatch
                    }
                    topic => Built::Command(Command::Help { topic }),
                }
            }
            Intent::Deploy => self.build_deploy(caps, force),
            Intent::Promote => {
                let Some(src) = group(G::Src) else {
                    return Built::NoMatch;
                };
                self.build_promote(src, group(G::Target), force)
            }
            Intent::ListEnvs => {
                let stage = match group(G::Stage) {
                    None => None,
                    Some(word) if word.eq_ignore_ascii_case("all") => None,
                    Some(word) => match Stage::from_word(word) {
                        Some(stage) => Some(stage),
                        None => return Built::NoMatch,
                    },
                };
                let app = match group(G::App).map(|a| self.app(a)) {
                    None => None,
                    Some(Ok(Some(app))) => Some(app),
                    Some(Ok(None)) => return Built::NoMatch,
                    Some(Err(e)) => return Built::Invalid(e),
                };
                Built::Command(Command::ListEnvs { app, stage })
            }
            Intent::History => {
                let app = match group(G::App).map(|a| self.app(a)) {
                    None => None,
                    Some(Ok(Some(app))) => Some(app),
                    Some(Ok(None)) => return Built::NoMatch,
                    Some(Err(e)) => return Built::Invalid(e),
                };
                match group(G::Env) {
                    None => Built::Command(Command::History { app, env: None }),
                    Some(token) => match self.env_ref(token) {
                        Ok(Some(env)) => Built::Command(Command::History {
                            app: env.app.or(app),
                            env: Some(env.env),
                        }),
                        Ok(None) if app.is_none() => match self.app(token) {
                            Ok(Some(app)) => Built::Command(Command::History {
                                app: Some(app),
                                env: None,
                            }),
                            Ok(None) => Built::NoMatch,
                            Err(e) => Built::Invalid(e),
                        },
                        Ok(None) => Built::NoMatch,
                        Err(e) => Built::Invalid(e),
                    },
                }
            }
            _ => self.build_env_command(intent, caps, force),
        }
    }

    /// The commands whose subject is one env (given, or staging by default for
    /// lock and queue commands, or derived from a branch: `my env for foo`).
    fn build_env_command(&self, intent: Intent, caps: &Groups, force: bool) -> Built {
        let group = |name: G| caps.get(name);
        let env = match (group(G::Env), group(G::Ref)) {
            (Some(token), _) => match self.env_ref(token) {
                Ok(Some(env)) => env,
                Ok(None) => return Built::NoMatch,
                Err(e) => return Built::Invalid(e),
            },
            (None, Some(branch)) if intent != Intent::QueueJoin => match self.git_ref(branch) {
                Ok(git_ref) => EnvRef::new(EnvName::for_branch(&git_ref)),
                Err(e) => return Built::Invalid(e),
            },
            _ => EnvRef::staging(),
        };
        let duration = match group(G::Dur) {
            None => None,
            Some(text) => match Span::parse(text) {
                Some(span) => Some(span),
                None => {
                    return Built::Invalid(ParseError::Incomplete {
                        what: "durations run from one second to 366 days",
                        usage: format!("extend {env} by 1d"),
                    });
                }
            },
        };
        let command = match intent {
            Intent::EnvStatus => Command::EnvStatus { env },
            Intent::Lock => {
                let reason = match group(G::Reason).map(str::trim) {
                    None => None,
                    Some(reason) => match check_reason(reason) {
                        Ok(reason) => Some(reason),
                        Err(e) => return Built::Invalid(e),
                    },
                };
                Command::Lock {
                    env,
                    reason,
                    duration,
                    force,
                }
            }
            Intent::Unlock => Command::Unlock { env, force },
            Intent::LockStatus => Command::LockStatus { env },
            Intent::QueueJoin => {
                let git_ref = match group(G::Ref).map(|r| self.git_ref(r)) {
                    None => None,
                    Some(Ok(r)) if r.as_str().eq_ignore_ascii_case("me") => None,
                    Some(Ok(r)) => Some(r),
                    Some(Err(e)) => return Built::Invalid(e),
                };
                Command::QueueJoin { env, git_ref }
            }
            Intent::QueueLeave => Command::QueueLeave { env },
            Intent::QueueStatus => Command::QueueStatus { env },
            Intent::Destroy => Command::Destroy { env },
            Intent::Suspend => Command::Suspend { env },
            Intent::Wake => Command::Wake { env },
            Intent::Extend => Command::Extend { env, duration },
            Intent::Cancel => Command::Cancel { env },
            Intent::Rollback => {
                let release = match group(G::Release).map(ReleaseId::parse) {
                    None => None,
                    Some(Ok(release)) => Some(release),
                    Some(Err(error)) => {
                        return Built::Invalid(ParseError::BadName {
                            role: "release",
                            error,
                        });
                    }
                };
                Command::Rollback { env, release }
            }
            Intent::Reset => {
                let source = match group(G::Src).map(|s| self.env_ref(s)) {
                    None => EnvName::prod(),
                    Some(Ok(Some(EnvRef { app: None, env }))) => env,
                    Some(Ok(_)) => return Built::NoMatch,
                    Some(Err(e)) => return Built::Invalid(e),
                };
                Command::Reset { env, source }
            }
            Intent::Owner => Command::Owner { env },
            Intent::Transfer => {
                let Some(user) = group(G::User) else {
                    return Built::NoMatch;
                };
                match UserRef::parse(user) {
                    Ok(user) => Command::Transfer { env, user },
                    Err(error) => {
                        return Built::Invalid(ParseError::BadName {
                            role: "user",
                            error,
                        });
                    }
                }
            }
            Intent::Logs => Command::Logs { env },
            _ => return Built::NoMatch,
        };
        Built::Command(command)
    }

    fn build_deploy(&self, caps: &Groups, force: bool) -> Built {
        let group = |name: G| caps.get(name);
        if let Some(verb) = group(G::Bare) {
            return Built::Invalid(ParseError::Incomplete {
                what: "which branch?",
                usage: format!("{} branch <ref> to dev", verb.to_ascii_lowercase()),
            });
        }
        let explicit_app = match group(G::App) {
            None => None,
            Some(word) if ARTICLES.iter().any(|a| a.eq_ignore_ascii_case(word)) => None,
            Some(word) => match AppName::parse(word) {
                Ok(app) => Some(app),
                Err(error) => return Built::Invalid(ParseError::BadName { role: "app", error }),
            },
        };
        let (app, git_ref) = if let Some(branch) = group(G::Ref) {
            (explicit_app, branch)
        } else if let Some(token) = group(G::Sref) {
            // `spin up dev-foo` wakes an env; only a branch is deployed here.
            if self.is_env_like(token) {
                return Built::NoMatch;
            }
            self.split_app(token)
        } else if let Some(token) = group(G::Aref) {
            // An env where the ref belongs means promotion: `deploy staging to prod`.
            if self.is_env_like(token) {
                return self.build_promote(token, group(G::Target), force);
            }
            self.split_app(token)
        } else {
            return Built::NoMatch;
        };
        let git_ref = match self.git_ref(git_ref) {
            Ok(r) => r,
            Err(e) => return Built::Invalid(e),
        };
        let (target, hosts) = match group(G::Target) {
            None => (Target::Dev, None),
            Some(token) => {
                let (env, hosts) = match token.split_once('/') {
                    Some((env, hosts)) if !env.eq_ignore_ascii_case("dev") => (env, Some(hosts)),
                    _ => (token, None),
                };
                let target = if Stage::from_word(env) == Some(Stage::Dev) {
                    Target::Dev
                } else {
                    match self.env_name(env) {
                        Ok(Some(env)) => Target::Env(env),
                        Ok(None) => return Built::NoMatch,
                        Err(e) => return Built::Invalid(e),
                    }
                };
                let hosts = match hosts.map(check_hosts) {
                    None => None,
                    Some(Ok(hosts)) => Some(hosts),
                    Some(Err(e)) => return Built::Invalid(e),
                };
                (target, hosts)
            }
        };
        Built::Command(Command::Deploy {
            app,
            git_ref,
            target,
            hosts,
            force,
        })
    }

    /// `promote <src> [to <target>]`. Without a target a dev env goes to
    /// staging; anything else must say where, since prod is never a default.
    fn build_promote(&self, src: &str, target: Option<&str>, force: bool) -> Built {
        let from = match self.env_ref(src) {
            Ok(Some(from)) => from,
            Ok(None) => return Built::NoMatch,
            Err(e) => return Built::Invalid(e),
        };
        let to = match target {
            Some(token) => match self.env_name(token) {
                Ok(Some(to)) => to,
                Ok(None) => return Built::NoMatch,
                Err(e) => return Built::Invalid(e),
            },
            None if from.env.stage() == Some(Stage::Dev) => EnvName::staging(),
            None => {
                let next = if from.env == EnvName::staging() {
                    "prod"
                } else {
                    "<env>"
                };
                return Built::Invalid(ParseError::Incomplete {
                    what: "which environment? Production is never a default",
                    usage: format!("promote {from} to {next}"),
                });
            }
        };
        if to == from.env {
            return Built::Invalid(ParseError::Incomplete {
                what: "an env can't be promoted to itself",
                usage: format!("promote {from} to <env>"),
            });
        }
        Built::Command(Command::Promote { from, to, force })
    }

    /// True when a token names an env rather than a branch: a stage word,
    /// `dev-x`, `x.dev`, `dev/x`, a configured env, optionally after `app/`.
    fn is_env_like(&self, token: &str) -> bool {
        let (app, rest) = match token.split_once('/') {
            Some((first, rest)) if !first.eq_ignore_ascii_case("dev") => (Some(first), rest),
            _ => (None, token),
        };
        if app.is_some_and(|app| !self.is_app(app)) {
            return false;
        }
        let lower = rest.to_ascii_lowercase();
        matches!(Stage::from_word(&lower), Some(Stage::Prod | Stage::Staging))
            || lower == "dev"
            || lower.starts_with("dev-")
            || lower.starts_with("dev/")
            || lower.ends_with(".dev")
            || self.extra_envs.contains(&lower)
    }

    /// `[app/]env` → `Ok(None)` when the token is no env (try another reading).
    fn env_ref(&self, token: &str) -> Result<Option<EnvRef>, ParseError> {
        if !self.is_env_like(token) {
            return Ok(None);
        }
        let (app, env) = match token.split_once('/') {
            Some((first, rest)) if !first.eq_ignore_ascii_case("dev") => (self.app(first)?, rest),
            _ => (None, token),
        };
        let env =
            EnvName::from_user(env).map_err(|error| ParseError::BadName { role: "env", error })?;
        Ok(Some(EnvRef { app, env }))
    }

    /// An env with no app part.
    fn env_name(&self, token: &str) -> Result<Option<EnvName>, ParseError> {
        if token.contains('/') && !token.to_ascii_lowercase().starts_with("dev/") {
            return Ok(None);
        }
        Ok(self.env_ref(token)?.map(|r| r.env))
    }

    /// True when `name/…` is read as an app prefix: a configured app, or
    /// without configuration any app name that is not a conventional branch
    /// prefix (`feature`, `fix`, …).
    pub fn reads_as_app(&self, name: &str) -> bool {
        self.is_app(name)
    }

    fn is_app(&self, name: &str) -> bool {
        let lower = name.to_ascii_lowercase();
        match &self.apps {
            // A stand-in (`bad_name_in`) may take an app's place, so `envs for $(x)` is explained too.
            Some(apps) => apps.contains(&lower) || lower.starts_with(STAND_IN_REF),
            // A word of the grammar (`my`, `me`, `ty`) reads as that word.
            None => {
                self.grammar_words.binary_search(&lower).is_err()
                    && !BRANCH_PREFIXES.contains(&lower.as_str())
                    && !GIT_REF_PREFIXES.contains(&lower.as_str())
                    && AppName::parse(&lower).is_ok()
            }
        }
    }

    fn app(&self, token: &str) -> Result<Option<AppName>, ParseError> {
        if token.starts_with('<') {
            return Err(ParseError::NotAName {
                role: "an app name",
            });
        }
        if !self.is_app(token) {
            return Ok(None);
        }
        AppName::parse(token)
            .map(Some)
            .map_err(|error| ParseError::BadName { role: "app", error })
    }

    /// `api/foo` → (`api`, `foo`) when `api` is an app; otherwise the whole token is the ref.
    fn split_app<'t>(&self, token: &'t str) -> (Option<AppName>, &'t str) {
        if let Some((first, rest)) = token.split_once('/')
            && !rest.is_empty()
            && self.is_app(first)
            && let Ok(app) = AppName::parse(first)
        {
            return (Some(app), rest);
        }
        (None, token)
    }

    fn git_ref(&self, token: &str) -> Result<GitRef, ParseError> {
        if token.starts_with('<') && token.ends_with('>') {
            return Err(ParseError::NotAName {
                role: "a branch name",
            });
        }
        // `refs/heads/foo` is git's full name of the branch `foo`.
        let token = match token.strip_prefix("refs/heads/") {
            Some(branch) if !branch.is_empty() => branch,
            _ => token,
        };
        GitRef::parse(token).map_err(|error| ParseError::BadName {
            role: "branch",
            error,
        })
    }

    /// Why a line no pattern reads is still refused: where the patterns
    /// expect one name, it has words that break a name's rules
    /// (`deploy $(touch /tmp/x) to dev`, `status ../../etc`). Each run of
    /// such words is put back as one stand-in name, a branch's or an env's;
    /// when the line then reads as a command, the words where the stand-in
    /// landed are checked by the rule of that place (branch, env, app, user,
    /// release) and the first broken rule is the answer. `None`: no name
    /// in the line breaks a rule, so it is simply not understood.
    fn bad_name_in(&self, line: &str) -> Option<ParseError> {
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
                Place::Branch => self.git_ref(name).map(drop),
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

    /// "Did you mean": replace words that are near a grammar word (typos such
    /// as `deplyo`, `stagign`) and keep the readings that parse.
    fn suggest(&self, line: &str) -> Vec<String> {
        let words: Vec<&str> = line.split(' ').collect();
        let mut suggestions: Vec<String> = Vec::new();
        let mut corrected = words.iter().map(|w| (*w).to_owned()).collect::<Vec<_>>();
        let mut corrections = 0;
        for (i, word) in words.iter().enumerate().take(16) {
            let candidates = self.near_words(word);
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

    /// Grammar words within a small edit distance of `word`, nearest first;
    /// empty when the word is itself a grammar word or too short to judge.
    fn near_words(&self, word: &str) -> Vec<String> {
        let lower = word.to_ascii_lowercase();
        if lower.len() < 3 || !lower.chars().all(|c| c.is_ascii_alphabetic()) {
            return Vec::new();
        }
        if self.vocabulary.binary_search(&lower).is_ok() {
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
            let start = self.vocabulary.partition_point(|w| w.as_bytes()[0] < first);
            let end = self
                .vocabulary
                .partition_point(|w| w.as_bytes()[0] <= first);
            start..end
        };
        let swapped = (bytes[1] != bytes[0]).then(|| run(bytes[1]));
        let mut near: Vec<(usize, &String)> = run(bytes[0])
            .chain(swapped.into_iter().flatten())
            .map(|i| (&self.vocabulary[i], &self.vocabulary_bags[i]))
            .filter(|(v, v_bag)| {
                let v = v.as_bytes();
                v.len().abs_diff(bytes.len()) <= limit
                    && (v[0] == bytes[0] || (v.len() > 1 && v[0] == bytes[1] && v[1] == bytes[0]))
                    && bag_distance(&bag, v_bag) <= limit
            })
            .filter_map(|(v, _)| Some((bounded_osa(bytes, v.as_bytes(), limit)?, v)))
            .collect();
        near.sort();
        near.into_iter().map(|(_, v)| v.clone()).collect()
    }

    /// An invalid command gets the command it would be with the bad part fixed, where we can tell.
    fn suggest_for_invalid(&self, error: &ParseError) -> Vec<String> {
        match error {
            ParseError::Incomplete { usage, .. } if !usage.contains('<') => vec![usage.clone()],
            _ => Vec::new(),
        }
    }
}

/// Every word of three or more letters in the table's patterns and usage
/// lines, plus the stage words: what a typo is compared against.
fn vocabulary() -> Vec<String> {
    table_words(3)
}

/// Every word the grammar itself reads (pattern and usage words of any
/// length, stage words, filler): none of them can be an app's name when no
/// apps are configured, or `deploy my branch foo` would be ambiguous.
fn grammar_words() -> Vec<String> {
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
fn pattern_words() -> Vec<String> {
    let mut words: Vec<String> = STAGE_WORDS.iter().map(|w| (*w).to_owned()).collect();
    for pattern in ROWS.iter().flat_map(|row| row.patterns.iter()) {
        let expanded = expand(pattern);
        let mut pieces = expanded.split(|c: char| !c.is_ascii_alphabetic());
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
        for piece in text.split(|c: char| !c.is_ascii_alphabetic() && c != '<' && c != '{') {
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
    const MAX: usize = 32;
    if a.len() >= MAX || b.len() >= MAX {
        return None;
    }
    // Distances stay below MAX, so a byte holds them; three short rows keep this in registers and L1.
    let mut rows = [[0u8; MAX]; 3];
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

/// Where a name stands in a command, by the rule that made it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Branch,
    Env,
    App,
    User,
    Release,
}

/// Stand-ins for runs of odd words (`Grammar::bad_name_in`), each followed by
/// a letter that says which run: a valid branch (and, without configured
/// apps, app) name, and a dev env's name. Nobody types them.
const STAND_IN_REF: &str = "rushboxstandin";
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

/// The bytes of a line as text, or the first byte that is not UTF-8.
///
/// ```
/// assert_eq!(rushbox_command::utf8_text(b"envs"), Ok("envs"));
/// let error = rushbox_command::utf8_text(b"a\xffb").unwrap_err();
/// assert_eq!(error.to_string(), "that text is not valid UTF-8 (byte 0xff at position 1)");
/// ```
pub fn utf8_text(bytes: &[u8]) -> Result<&str, ParseError> {
    std::str::from_utf8(bytes).map_err(|e| ParseError::NotUtf8 {
        byte: bytes.get(e.valid_up_to()).copied().unwrap_or_default(),
        position: e.valid_up_to(),
    })
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

fn check_reason(reason: &str) -> Result<String, ParseError> {
    if reason.len() > MAX_REASON_BYTES {
        return Err(ParseError::BadReason {
            why: "at most 300 bytes",
        });
    }
    if reason.chars().any(|c| c.is_control() || is_invisible(c)) {
        return Err(ParseError::BadReason {
            why: "no control or invisible characters",
        });
    }
    Ok(reason.to_owned())
}

fn is_invisible(c: char) -> bool {
    matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2064}' | '\u{feff}')
}

/// hubot-deploy's `to env/hosts`: host names separated by commas.
fn check_hosts(hosts: &str) -> Result<String, ParseError> {
    let error = |error| ParseError::BadName {
        role: "hosts",
        error,
    };
    if hosts.is_empty() || hosts.len() > 200 {
        return Err(error(NameError::BadShape {
            what: "a host list",
            rule: "must be 1 to 200 bytes",
        }));
    }
    if let Some(ch) = hosts
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || ".,-_".contains(*c)))
    {
        return Err(error(NameError::ForbiddenChar {
            what: "a host list",
            ch,
            allowed: "letters, digits, `.`, `-`, `_`, separated by `,`",
        }));
    }
    if hosts.starts_with('-') || hosts.contains(",-") {
        return Err(error(NameError::BadShape {
            what: "a host name",
            rule: "can't start with `-`",
        }));
    }
    Ok(hosts.to_ascii_lowercase())
}

/// Words that may stand before `branch` without naming an app.
const ARTICLES: &[&str] = &["the", "my", "our", "this", "that", "a", "an", "new"];

const LEADING_FILLER: &[&str] = &[
    "hey", "hi", "hello", "yo", "ok", "okay", "please", "pls", "plz", "kindly", "just", "um", "uh",
    "hmm", "so", "quick", "quickly", "also", "then", "folks", "team", "bot",
];

const LEADING_PHRASES: &[&[&str]] = &[
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

const TRAILING_FILLER: &[&str] = &[
    "please", "pls", "plz", "thanks", "thx", "ty", "asap", "kthx", "cheers", "thankyou",
];

/// Words after which a trailing filler word is read as an argument.
const PREPOSITIONS: &[&str] = &[
    "for", "to", "on", "in", "of", "from", "at", "with", "by", "into", "onto", "as",
];

const TRAILING_PHRASES: &[(&str, &str)] = &[("thank", "you"), ("for", "me"), ("if", "possible")];

const TRAILING_PUNCTUATION: &[char] = &['?', '!', '.', ',', ';', '…'];

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
