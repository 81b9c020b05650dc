//! Validated names: the only way to make a [`GitRef`], [`EnvName`], [`AppName`],
//! [`ReleaseId`] or [`UserRef`] is to check it, so code that holds one never
//! re-checks, and a hostile name never reaches git, a shell or a hostname.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Why a name was refused. Each variant names the rule that was broken; its
/// `Display` is a sentence a person can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameError {
    /// The name is empty.
    Empty { what: &'static str },
    /// Longer than the limit, in bytes.
    TooLong {
        what: &'static str,
        max: usize,
        len: usize,
    },
    /// A character outside plain printable ASCII: control, invisible,
    /// non-ASCII (homoglyphs such as Cyrillic `а`) or whitespace.
    NotPlainAscii {
        what: &'static str,
        ch: char,
        position: usize,
    },
    /// A printable ASCII character the kind of name does not allow.
    ForbiddenChar {
        what: &'static str,
        ch: char,
        allowed: &'static str,
    },
    /// A shape that git's `check-ref-format` (or our stricter rule) refuses.
    BadShape {
        what: &'static str,
        rule: &'static str,
    },
    /// The name is reserved for something else.
    Reserved {
        what: &'static str,
        name: String,
        why: &'static str,
    },
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameError::Empty { what } => write!(f, "{what} is empty"),
            NameError::TooLong { what, max, len } => {
                write!(f, "{what} is too long ({len} bytes, max {max})")
            }
            NameError::NotPlainAscii { what, ch, position } => {
                let kind = if ch.is_whitespace() {
                    "whitespace"
                } else if ch.is_control() {
                    "a control character"
                } else {
                    "a non-ASCII character"
                };
                write!(
                    f,
                    "{what} must be plain ASCII with no spaces; found {kind} U+{:04X} at position {position}",
                    *ch as u32
                )
            }
            NameError::ForbiddenChar { what, ch, allowed } => {
                write!(
                    f,
                    "{what} can't contain `{ch}` ({what} may contain only {allowed})"
                )
            }
            NameError::BadShape { what, rule } => write!(f, "{what} {rule}"),
            NameError::Reserved { name, why, .. } => write!(f, "`{name}` is reserved: {why}"),
        }
    }
}

impl std::error::Error for NameError {}

/// Finds the first character that is not printable ASCII (space included).
fn check_plain_ascii(what: &'static str, s: &str) -> Result<(), NameError> {
    match s.chars().enumerate().find(|(_, c)| !c.is_ascii_graphic()) {
        Some((position, ch)) => Err(NameError::NotPlainAscii { what, ch, position }),
        None => Ok(()),
    }
}

fn check_len(what: &'static str, s: &str, max: usize) -> Result<(), NameError> {
    if s.is_empty() {
        return Err(NameError::Empty { what });
    }
    if s.len() > max {
        return Err(NameError::TooLong {
            what,
            max,
            len: s.len(),
        });
    }
    Ok(())
}

/// A git branch, tag or commit name, safe to pass to git after `--end-of-options`.
///
/// It follows `git check-ref-format --branch` and is stricter: plain ASCII,
/// only letters, digits and `. _ - / + @ #`, no segment starting with `-`
/// (so it can never be read as an option), at most 200 bytes. Case is kept.
///
/// ```
/// use rushbox_command::GitRef;
/// assert_eq!(GitRef::parse("feature/Login-2").unwrap().as_str(), "feature/Login-2");
/// assert!(GitRef::parse("feat;$(id)").is_err());
/// assert!(GitRef::parse("--upload-pack=x").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct GitRef(String);

impl GitRef {
    pub const MAX_LEN: usize = 200;
    const WHAT: &'static str = "a branch name";
    const ALLOWED: &'static str = "letters, digits and `. _ - / + @ #`";

    pub fn parse(s: &str) -> Result<GitRef, NameError> {
        let what = Self::WHAT;
        check_len(what, s, Self::MAX_LEN)?;
        check_plain_ascii(what, s)?;
        let shape = |rule| Err(NameError::BadShape { what, rule });
        // First, so `--upload-pack=x` is refused as an option, not for its `=`.
        if s.split('/').any(|segment| segment.starts_with('-')) {
            return shape("can't start with `-` in any segment (it would read as an option)");
        }
        if let Some(ch) = s
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || "._-/+@#".contains(*c)))
        {
            return Err(NameError::ForbiddenChar {
                what,
                ch,
                allowed: Self::ALLOWED,
            });
        }
        if s == "@" || s == "HEAD" {
            return shape("can't be `@` or `HEAD` (name a branch, tag or commit)");
        }
        if s.contains("..") {
            return shape("can't contain `..` (see git check-ref-format)");
        }
        if s.contains("@{") {
            return shape("can't contain `@{` (see git check-ref-format)");
        }
        if s.starts_with('/') || s.ends_with('/') || s.contains("//") {
            return shape("can't start or end with `/` or contain `//` (see git check-ref-format)");
        }
        if s.ends_with('.') {
            return shape("can't end with `.` (see git check-ref-format)");
        }
        for segment in s.split('/') {
            if segment.starts_with('.') {
                return shape("can't have a segment starting with `.` (see git check-ref-format)");
            }
            if segment.ends_with(".lock") {
                return shape(
                    "can't have a segment ending with `.lock` (see git check-ref-format)",
                );
            }
        }
        Ok(GitRef(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A lowercase DNS label: 1–63 of `a-z 0-9 -`, not starting or ending with `-`.
/// Shared by [`EnvName`] and [`AppName`] so both work as hostnames,
/// Kubernetes namespaces and Heroku app names.
fn dns_label(what: &'static str, s: &str) -> Result<String, NameError> {
    check_len(what, s, 63)?;
    check_plain_ascii(what, s)?;
    let lower = s.to_ascii_lowercase();
    if let Some(ch) = lower
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(NameError::ForbiddenChar {
            what,
            ch,
            allowed: "letters, digits and `-` (it must work as a hostname)",
        });
    }
    if lower.starts_with('-') || lower.ends_with('-') {
        return Err(NameError::BadShape {
            what,
            rule: "can't start or end with `-` (it must work as a hostname)",
        });
    }
    Ok(lower)
}

/// The place in the pipeline an environment belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    Dev,
    Staging,
    Prod,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Dev => "dev",
            Stage::Staging => "staging",
            Stage::Prod => "prod",
        }
    }

    /// Reads the words people use for a stage: `prod`, `production`, `prd`,
    /// `staging`, `stage`, `stg`, `dev`, `development`, in any case.
    pub fn from_word(word: &str) -> Option<Stage> {
        const WORDS: &[(&str, Stage)] = &[
            ("prod", Stage::Prod),
            ("production", Stage::Prod),
            ("prd", Stage::Prod),
            ("live", Stage::Prod),
            ("staging", Stage::Staging),
            ("stage", Stage::Staging),
            ("stg", Stage::Staging),
            ("dev", Stage::Dev),
            ("development", Stage::Dev),
        ];
        WORDS
            .iter()
            .find(|(w, _)| w.eq_ignore_ascii_case(word))
            .map(|(_, stage)| *stage)
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The name of one environment: `prod`, `staging`, `dev-foo`, or another DNS label.
///
/// [`EnvName::from_user`] reads what people type (`production`, `stg`,
/// `foo.dev`, `dev/foo`, `Dev-Foo`) and always returns the one spelling.
///
/// ```
/// use rushbox_command::EnvName;
/// assert_eq!(EnvName::from_user("production").unwrap().as_str(), "prod");
/// assert_eq!(EnvName::from_user("foo.dev").unwrap().as_str(), "dev-foo");
/// assert_eq!(EnvName::from_user("dev/foo").unwrap().as_str(), "dev-foo");
/// assert!(EnvName::from_user("Feat_X").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EnvName(String);

impl EnvName {
    const WHAT: &'static str = "an env name";

    /// A name exactly as stored: a lowercase DNS label, not the bare stage `dev`.
    pub fn parse(s: &str) -> Result<EnvName, NameError> {
        let label = dns_label(Self::WHAT, s)?;
        if label == "dev" {
            return Err(NameError::Reserved {
                what: Self::WHAT,
                name: label,
                why: "`dev` is the stage that holds many envs; name one, like `dev-foo`, or ask `envs`",
            });
        }
        Ok(EnvName(label))
    }

    /// A name as a person writes it, normalised: stage synonyms become
    /// `prod` / `staging`, and `foo.dev` or `dev/foo` become `dev-foo`.
    pub fn from_user(s: &str) -> Result<EnvName, NameError> {
        match Stage::from_word(s) {
            Some(Stage::Prod) => return Ok(Self::prod()),
            Some(Stage::Staging) => return Ok(Self::staging()),
            _ => {}
        }
        let lower = s.to_ascii_lowercase();
        let dev_suffix = lower
            .strip_suffix(".dev")
            .or_else(|| lower.strip_prefix("dev/"))
            .or_else(|| lower.strip_prefix("dev."));
        match dev_suffix {
            Some(name) if !name.is_empty() => {
                dns_label(Self::WHAT, name)?;
                EnvName::parse(&format!("dev-{name}"))
            }
            _ => EnvName::parse(s),
        }
    }

    /// `dev-<slug of branch>`: the env that `deploy branch <ref> to dev` makes.
    /// The slug lowercases the branch, turns every other character into `-`,
    /// and keeps the label within 63 bytes.
    ///
    /// ```
    /// use rushbox_command::{EnvName, GitRef};
    /// let r = GitRef::parse("feature/Login_Redesign").unwrap();
    /// assert_eq!(EnvName::for_branch(&r).as_str(), "dev-feature-login-redesign");
    /// ```
    pub fn for_branch(git_ref: &GitRef) -> EnvName {
        let mut slug = String::with_capacity(git_ref.as_str().len());
        for c in git_ref.as_str().chars() {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_alphanumeric() {
                slug.push(c);
            } else if !slug.ends_with('-') {
                slug.push('-');
            }
        }
        let mut name = format!("dev-{}", slug.trim_matches('-'));
        name.truncate(63);
        while name.ends_with('-') {
            name.pop();
        }
        // "dev-" plus at least one alphanumeric survives: a GitRef is never all punctuation.
        if name == "dev" {
            name.push_str("-x");
        }
        EnvName(name)
    }

    pub fn prod() -> EnvName {
        EnvName("prod".to_owned())
    }

    pub fn staging() -> EnvName {
        EnvName("staging".to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The stage this env belongs to, by its name; `None` for other envs (`qa`, `pr-12`).
    pub fn stage(&self) -> Option<Stage> {
        match self.0.as_str() {
            "prod" => Some(Stage::Prod),
            "staging" => Some(Stage::Staging),
            n if n.starts_with("dev-") => Some(Stage::Dev),
            _ => None,
        }
    }
}

/// The name of an app (one repository with its own pipeline): a DNS label,
/// never a stage word, so `api/staging` and `dev/foo` cannot be confused.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AppName(String);

impl AppName {
    const WHAT: &'static str = "an app name";

    pub fn parse(s: &str) -> Result<AppName, NameError> {
        let label = dns_label(Self::WHAT, s)?;
        if Stage::from_word(&label).is_some() {
            return Err(NameError::Reserved {
                what: Self::WHAT,
                name: label,
                why: "stage names can't be app names",
            });
        }
        if label.starts_with("dev-") {
            return Err(NameError::Reserved {
                what: Self::WHAT,
                name: label,
                why: "`dev-…` names are dev envs (`history for dev-foo`), so they can't be app names",
            });
        }
        Ok(AppName(label))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A release id as people quote it: `v141`, `r12`, `141` or a commit prefix.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ReleaseId(String);

impl ReleaseId {
    const WHAT: &'static str = "a release id";

    pub fn parse(s: &str) -> Result<ReleaseId, NameError> {
        check_len(Self::WHAT, s, 64)?;
        check_plain_ascii(Self::WHAT, s)?;
        if let Some(ch) = s
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || "._-".contains(*c)))
        {
            return Err(NameError::ForbiddenChar {
                what: Self::WHAT,
                ch,
                allowed: "letters, digits and `. _ -`",
            });
        }
        if s.starts_with('-') {
            return Err(NameError::BadShape {
                what: Self::WHAT,
                rule: "can't start with `-`",
            });
        }
        Ok(ReleaseId(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A person named in a command: `@alice`, or a platform mention such as
/// Slack's `<@U024BE7LH>` or Discord's `<@!80351110224678912>`.
/// The adapter that received the command resolves it; the parser only checks it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UserRef(String);

impl UserRef {
    const WHAT: &'static str = "a user";

    /// Accepts `alice`, `@alice` (stored as `alice`) and `<@ID>` / `<@!ID>`
    /// (stored as `<@ID>`).
    pub fn parse(s: &str) -> Result<UserRef, NameError> {
        if let Some(inner) = s.strip_prefix("<@").and_then(|r| r.strip_suffix('>')) {
            let id = inner.strip_prefix('!').unwrap_or(inner);
            let id = id.split('|').next().unwrap_or(id);
            check_len(Self::WHAT, id, 64)?;
            if let Some(ch) = id.chars().find(|c| !c.is_ascii_alphanumeric()) {
                return Err(NameError::ForbiddenChar {
                    what: Self::WHAT,
                    ch,
                    allowed: "letters and digits inside a mention",
                });
            }
            return Ok(UserRef(format!("<@{id}>")));
        }
        let name = s.strip_prefix('@').unwrap_or(s);
        check_len(Self::WHAT, name, 80)?;
        check_plain_ascii(Self::WHAT, name)?;
        if let Some(ch) = name
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || "._-:".contains(*c)))
        {
            return Err(NameError::ForbiddenChar {
                what: Self::WHAT,
                ch,
                allowed: "letters, digits and `. _ - :`",
            });
        }
        Ok(UserRef(name.to_owned()))
    }

    /// `alice` or `<@ID>`, without the `@` people type in front of a plain name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True for a platform mention (`<@ID>`), false for a plain name.
    pub fn is_mention(&self) -> bool {
        self.0.starts_with("<@")
    }
}

impl fmt::Display for UserRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_mention() {
            f.write_str(&self.0)
        } else {
            write!(f, "@{}", self.0)
        }
    }
}

macro_rules! string_name {
    ($($t:ident),*) => {$(
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl FromStr for $t {
            type Err = NameError;
            fn from_str(s: &str) -> Result<Self, NameError> {
                $t::parse(s)
            }
        }
        impl TryFrom<String> for $t {
            type Error = NameError;
            fn try_from(s: String) -> Result<Self, NameError> {
                $t::parse(&s)
            }
        }
        impl From<$t> for String {
            fn from(name: $t) -> String {
                name.0
            }
        }
        impl AsRef<str> for $t {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    )*};
}
string_name!(GitRef, EnvName, AppName, ReleaseId);

impl FromStr for UserRef {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, NameError> {
        UserRef::parse(s)
    }
}

impl TryFrom<String> for UserRef {
    type Error = NameError;
    fn try_from(s: String) -> Result<Self, NameError> {
        UserRef::parse(&s)
    }
}

impl From<UserRef> for String {
    fn from(user: UserRef) -> String {
        user.0
    }
}

/// A span of time people write as `2h`, `90 minutes`, `1d`, `an hour` or `another day`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Span {
    secs: u64,
}

impl Span {
    /// At most a year: longer leases and lifetimes are mistakes.
    pub const MAX_SECS: u64 = 366 * 24 * 3600;

    pub fn from_secs(secs: u64) -> Option<Span> {
        (secs > 0 && secs <= Self::MAX_SECS).then_some(Span { secs })
    }

    pub fn secs(self) -> u64 {
        self.secs
    }

    pub fn as_duration(self) -> std::time::Duration {
        std::time::Duration::from_secs(self.secs)
    }

    /// Reads `2h`, `2 h`, `2 hours`, `90m`, `1d`, `1w`, `45s`, `an hour`, `a day`,
    /// `another day`, `one week`. Returns `None` for anything else.
    ///
    /// ```
    /// use rushbox_command::Span;
    /// assert_eq!(Span::parse("2h").unwrap().secs(), 7200);
    /// assert_eq!(Span::parse("another day").unwrap().secs(), 86400);
    /// assert_eq!(Span::parse("1d").unwrap().to_string(), "1d");
    /// ```
    pub fn parse(s: &str) -> Option<Span> {
        let s = s.trim();
        let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (number, unit) = s.split_at(split);
        let unit = unit.trim();
        let count: u64 = if number.is_empty() {
            let (word, rest) = unit.split_once(' ')?;
            let count = match word.to_ascii_lowercase().as_str() {
                "a" | "an" | "one" | "another" => 1,
                "two" => 2,
                "three" => 3,
                _ => return None,
            };
            return Self::with_unit(count, rest.trim());
        } else {
            number.parse().ok()?
        };
        Self::with_unit(count, unit)
    }

    fn with_unit(count: u64, unit: &str) -> Option<Span> {
        const UNITS: &[(&[&str], u64)] = &[
            (&["s", "sec", "secs", "second", "seconds"], 1),
            (&["m", "min", "mins", "minute", "minutes"], 60),
            (&["h", "hr", "hrs", "hour", "hours"], 3600),
            (&["d", "day", "days"], 86400),
            (&["w", "wk", "wks", "week", "weeks"], 7 * 86400),
        ];
        let unit = unit.to_ascii_lowercase();
        let (_, secs) = UNITS
            .iter()
            .find(|(names, _)| names.contains(&unit.as_str()))?;
        Span::from_secs(count.checked_mul(*secs)?)
    }
}

impl fmt::Display for Span {
    /// The largest unit that divides the span exactly: `1w`, `2d`, `90m`, `45s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: &[(u64, &str)] = &[(7 * 86400, "w"), (86400, "d"), (3600, "h"), (60, "m")];
        for (size, unit) in UNITS {
            if self.secs.is_multiple_of(*size) {
                return write!(f, "{}{unit}", self.secs / size);
            }
        }
        write!(f, "{}s", self.secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_names_that_read_as_envs_are_reserved() {
        for bad in ["prod", "staging", "stg", "dev", "dev-tools"] {
            let error = AppName::parse(bad).expect_err(bad).to_string();
            assert!(error.contains("is reserved"), "{bad}: {error}");
        }
        assert!(
            AppName::parse("dev-tools")
                .expect_err("dev-")
                .to_string()
                .contains("dev envs")
        );
        for good in ["api", "web", "devtools", "tools-dev"] {
            assert!(AppName::parse(good).is_ok(), "{good}");
        }
    }

    #[test]
    fn refs_git_and_shells_would_misread_are_refused() {
        for bad in [
            "feat;$(id)",
            "a`id`",
            "x|sh",
            "a&&b",
            "$(curl${IFS}x|sh)",
            "a'b",
            "a\"b",
            "a>b",
            "a<b",
            "a\\b",
            "a b",
            "a..b",
            "a.lock",
            "a/.b",
            "a@{1}",
            "a//b",
            "a/",
            "a.",
            "HEAD",
            "@",
            "-x",
            "--upload-pack=x",
            "feature/--exec=x",
            "/a",
            "a~1",
            "a^",
            "a:b",
            "a?",
            "a*",
            "a[b",
            "é-ünï",
            "\u{0430}pi",
            "a\u{202e}b",
            "a\u{200b}b",
            "a\nb",
            "a\0b",
            "",
        ] {
            assert!(GitRef::parse(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(GitRef::parse(&"a".repeat(201)).is_err());
        assert!(GitRef::parse(&"a".repeat(200)).is_ok());
    }

    #[test]
    fn ordinary_refs_are_kept_exactly() {
        for good in [
            "main",
            "feature/Login-Redesign",
            "v1.2.3",
            "fix#123",
            "user@fix",
            "a+b",
            "deadbeef",
        ] {
            assert_eq!(GitRef::parse(good).map(|r| r.0), Ok(good.to_owned()));
        }
    }

    #[test]
    fn errors_name_the_rule_and_the_character() {
        let e = GitRef::parse("a\u{202e}b").unwrap_err().to_string();
        assert!(e.contains("U+202E at position 1"), "{e}");
        let e = GitRef::parse("feat;x").unwrap_err().to_string();
        assert!(e.contains("can't contain `;`"), "{e}");
        let e = GitRef::parse("feature/--exec").unwrap_err().to_string();
        assert!(e.contains("start with `-`"), "{e}");
    }

    #[test]
    fn env_names_are_normalised() {
        for (typed, stored) in [
            ("prod", "prod"),
            ("Production", "prod"),
            ("prd", "prod"),
            ("stg", "staging"),
            ("stage", "staging"),
            ("STAGING", "staging"),
            ("dev-foo", "dev-foo"),
            ("foo.dev", "dev-foo"),
            ("dev/foo", "dev-foo"),
            ("Dev-Foo", "dev-foo"),
            ("qa", "qa"),
        ] {
            assert_eq!(
                EnvName::from_user(typed).map(|e| e.0),
                Ok(stored.to_owned()),
                "{typed}"
            );
        }
        for bad in [
            "Feat_X",
            "-x",
            "x-",
            "a.b",
            "dev",
            &"a".repeat(64),
            "dev/",
            ".dev",
            "dev/a/b",
        ] {
            assert!(
                EnvName::from_user(bad).is_err(),
                "{bad:?} should be refused"
            );
        }
    }

    #[test]
    fn branch_slugs_are_dns_labels() {
        for (branch, env) in [
            ("foo", "dev-foo"),
            ("feature/Login_Redesign", "dev-feature-login-redesign"),
            ("a--b", "dev-a-b"),
            ("_x_", "dev-x"),
            ("___", "dev-x"),
        ] {
            let r = GitRef::parse(branch).unwrap();
            assert_eq!(EnvName::for_branch(&r).as_str(), env);
        }
        let long = GitRef::parse(&format!("{}-{}", "a".repeat(58), "b".repeat(100))).unwrap();
        let env = EnvName::for_branch(&long);
        assert!(env.as_str().len() <= 63 && !env.as_str().ends_with('-'));
        assert_eq!(EnvName::parse(env.as_str()), Ok(env));
    }

    #[test]
    fn spans_read_people_and_print_short() {
        for (typed, secs, shown) in [
            ("2h", 7200, "2h"),
            ("2 hours", 7200, "2h"),
            ("90m", 5400, "90m"),
            ("1d", 86400, "1d"),
            ("an hour", 3600, "1h"),
            ("another day", 86400, "1d"),
            ("1w", 604800, "1w"),
            ("45s", 45, "45s"),
            ("one week", 604800, "1w"),
        ] {
            let span = Span::parse(typed).unwrap_or_else(|| panic!("{typed}"));
            assert_eq!((span.secs(), span.to_string().as_str()), (secs, shown));
        }
        for bad in [
            "",
            "h",
            "2",
            "0h",
            "2 parsecs",
            "99999999999999999999d",
            "400d",
        ] {
            assert_eq!(Span::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn users_accept_plain_names_and_mentions() {
        assert_eq!(UserRef::parse("@alice").unwrap().to_string(), "@alice");
        assert_eq!(
            UserRef::parse("<@U024BE7LH>").unwrap().as_str(),
            "<@U024BE7LH>"
        );
        assert_eq!(UserRef::parse("<@!8035>").unwrap().as_str(), "<@8035>");
        assert!(UserRef::parse("<@U1;rm>").is_err());
        assert!(UserRef::parse("@al ice").is_err());
    }
}
