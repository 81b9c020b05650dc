//! The parser: normalise a line, find the first table pattern whose captured
//! names make a valid command, or explain why there is none. This module is
//! the [`Grammar`] API and the order of those steps; each step is a module:
//!
//! - `normalize`: chat text → the normalised line the patterns read;
//! - `matching`: the regex-automata search, and what each pattern captured;
//! - `build`: captures → [`Command`], each name checked by its rule;
//! - `explain`: which rule a hostile name breaks, for a line no pattern reads;
//! - `suggest`: "did you mean", for a line that is not understood;
//! - `words`: the table's words that `build`, `explain` and `suggest` consult.

mod build;
mod explain;
mod matching;
mod normalize;
mod suggest;
mod words;

use std::borrow::Cow;

use crate::command::{Command, ParseError, Rejection};
use crate::names::{AppName, EnvName};

use build::{Built, CommandBuilder};
use matching::Patterns;
use suggest::Vocabulary;

/// Lines longer than this are refused before any matching.
pub const MAX_LINE_BYTES: usize = 4096;
/// Lock reasons longer than this are refused.
pub const MAX_REASON_BYTES: usize = 300;

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
    /// The table's patterns, compiled.
    patterns: Patterns,
    /// What captured words mean under the configured apps and envs.
    builder: CommandBuilder,
    /// Words that appear in the grammar, for "did you mean".
    vocabulary: Vocabulary,
    /// Every word of the table's patterns, sorted: a name never spans one.
    pattern_words: Vec<String>,
    /// Names a line may start with to address the bot.
    bot_names: Vec<String>,
}

impl Default for Grammar {
    fn default() -> Self {
        Grammar::new()
    }
}

impl Grammar {
    /// The grammar with no configuration: apps are told from branches by the
    /// conventional branch prefixes (`feature/`, `fix/`, …), envs are `prod`,
    /// `staging` and `dev-*`, the bot is `rushbox`.
    pub fn new() -> Grammar {
        Grammar {
            patterns: Patterns::compile(),
            builder: CommandBuilder::new(words::grammar_words()),
            vocabulary: Vocabulary::new(words::vocabulary()),
            pattern_words: words::pattern_words(),
            bot_names: vec!["rushbox".to_owned()],
        }
    }

    /// Tells the grammar which apps exist, so `api/foo` is read as app `api`
    /// exactly when `api` is one of them.
    pub fn with_apps<I: IntoIterator<Item = AppName>>(mut self, apps: I) -> Grammar {
        self.builder.apps = Some(apps.into_iter().map(|a| a.as_str().to_owned()).collect());
        self
    }

    /// Declares env names beyond `prod`, `staging` and `dev-*` (say `qa`).
    pub fn with_envs<I: IntoIterator<Item = EnvName>>(mut self, envs: I) -> Grammar {
        self.builder.extra_envs = envs.into_iter().map(|e| e.as_str().to_owned()).collect();
        self.vocabulary = self
            .vocabulary
            .extend(self.builder.extra_envs.iter().cloned());
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

    /// Collapses whitespace, decodes Slack's `&amp; &lt; &gt;`, and strips
    /// what people put around a command: a bot name or mention, a leading
    /// `!` or `/rushbox`, greetings, "please", "thanks" and end punctuation.
    pub fn normalize<'t>(&self, text: &'t str) -> Cow<'t, str> {
        normalize::normalize(text, &self.bot_names)
    }

    /// True when `name/…` is read as an app prefix: a configured app, or
    /// without configuration any app name that is not a conventional branch
    /// prefix (`feature`, `fix`, …).
    pub fn reads_as_app(&self, name: &str) -> bool {
        self.builder.is_app(name)
    }

    /// The first pattern, in table order, whose captures make a command or
    /// break a rule; `None` when no pattern makes a command of the line.
    fn parse_normalized(&self, line: &str) -> Option<Result<Command, ParseError>> {
        if line.is_empty() {
            return None;
        }
        self.patterns.find_map(line, |intent, captured| {
            match self.builder.build(intent, captured) {
                Built::Command(command) => Some(Ok(command)),
                Built::Invalid(error) => Some(Err(error)),
                Built::TryNextPattern => None,
            }
        })
    }
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
