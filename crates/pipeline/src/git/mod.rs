//! Turns the ref a person typed (`feature/login`, `v1.2`, `3f2a9c1`) into the
//! full commit id the engine records, by asking the app's own repository with
//! real git; and runs git for the rest of rushbox (the local provider's
//! worktrees). Git runs through the process layer as an argument list, never
//! through a shell, with refs after `--end-of-options`, no terminal prompts
//! and a time limit; `git` is found on `PATH` once.
//! `RefResolver`, the seam the engine resolves refs through, is here too,
//! with `FixedRefs`, its fixed table for tests and dry runs.

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsStr;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rushbox_command::{AppName, GitRef};

use crate::process::{self, Ended, Exit, Limits, Spec, Stream};

mod batch;
mod refs;

use batch::{Batch, Lookup};
use refs::{RefAnswer, RefFiles};

/// How long a question to a repository may take before it is stopped.
const GIT_TIMEOUT: Duration = Duration::from_secs(30);
/// After SIGTERM, how long git has to clean up (its lock files) before SIGKILL.
const GIT_GRACE: Duration = Duration::from_secs(2);

/// Variables that would point git somewhere other than the repository we name.
pub(crate) const GIT_LOCATION_VARS: &[&str] = &[
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_COMMON_DIR",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_NAMESPACE",
    "GIT_CEILING_DIRECTORIES",
];

/// Why a ref could not be resolved, in words a person can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GitError {
    /// No branch, tag or commit of that name in the repository.
    NotFound { git_ref: GitRef, repository: String },
    /// The configured path is not a git repository (or does not exist).
    NotARepository { path: PathBuf },
    /// Git ran but failed, or took too long; `message` has its own words.
    GitFailed { message: String },
    /// No `git` program on `PATH`.
    GitMissing,
}

impl fmt::Display for GitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GitError::NotFound {
                git_ref,
                repository,
            } => write!(
                f,
                "branch `{git_ref}` not found in {repository}'s repository; push it first \
                 (or name a tag or commit that is there)"
            ),
            GitError::NotARepository { path } => write!(
                f,
                "`{}` is not a git repository; check the app's repository setting",
                path.display()
            ),
            GitError::GitFailed { message } => write!(f, "git failed: {message}"),
            GitError::GitMissing => f.write_str(
                "git is not installed (no `git` on PATH); rushbox needs it to resolve branches",
            ),
        }
    }
}

impl std::error::Error for GitError {}

/// A full commit id: 40 (SHA-1) or 64 (SHA-256) lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Commit(String);

impl Commit {
    /// Accepts only a full lowercase hex object id, as `git rev-parse` prints it.
    pub fn parse(s: &str) -> Option<Commit> {
        let hex = s
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        (hex && (s.len() == 40 || s.len() == 64)).then(|| Commit(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first 8 hex digits, for display (`3f2a9c1d`).
    pub fn short(&self) -> &str {
        // Always 40 or 64 ASCII bytes, so the slice is in bounds and on a char boundary.
        &self.0[..8]
    }
}

impl fmt::Display for Commit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One app's repository on this machine: bare or with a work tree.
///
/// ```no_run
/// use rushbox_command::GitRef;
/// use rushbox_pipeline::git::GitRepo;
/// let repo = GitRepo::open("repos/api.git")?;
/// let commit = repo.resolve(&GitRef::parse("feature/login").unwrap())?;
/// println!("{} {}", commit.short(), repo.subject(&commit)?);
/// # Ok::<(), rushbox_pipeline::git::GitError>(())
/// ```
#[derive(Debug, Clone)]
pub struct GitRepo {
    path: PathBuf,
    /// The directory above the repository, where git stops looking for one.
    ceiling: Option<PathBuf>,
    /// Who the repository belongs to, for messages: the app name, or the directory name.
    name: String,
    /// The repository's one long-lived `git cat-file --batch-command`,
    /// shared by every clone of this `GitRepo`.
    batch: Arc<Batch>,
    /// Its ref files, read in-process where git's rules allow.
    refs: Arc<RefFiles>,
}

impl GitRepo {
    /// Checks that `path` itself is a git repository (git does not look in
    /// the directories above it).
    pub fn open(path: impl AsRef<Path>) -> Result<GitRepo, GitError> {
        let path = path.as_ref().to_path_buf();
        if !path.is_dir() {
            return Err(GitError::NotARepository { path });
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().trim_end_matches(".git").to_owned())
            .unwrap_or_else(|| path.display().to_string());
        // Stop discovery at the repository itself: a plain directory inside
        // some other repository must not resolve refs from that one.
        let ceiling = path
            .canonicalize()
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf));
        let mut repo = GitRepo {
            path,
            ceiling,
            name,
            batch: Arc::default(),
            refs: Arc::new(RefFiles::new(None, "")),
        };
        let out = repo.git(&["rev-parse", "--git-dir"])?;
        if !out.exit.success() {
            if out.stderr.contains("not a git repository") {
                return Err(GitError::NotARepository { path: repo.path });
            }
            return Err(out.failure("rev-parse --git-dir"));
        }
        // Where the refs live, and whether they are plain files (git 2.45
        // names the format; an older git echoes the option, and then git
        // answers every question itself).
        let layout = repo.git(&[
            "rev-parse",
            "--path-format=absolute",
            "--git-common-dir",
            "--show-ref-format",
        ])?;
        let mut lines = layout.stdout.lines();
        if let (true, Some(common), Some(format)) =
            (layout.exit.success(), lines.next(), lines.next())
        {
            let common = PathBuf::from(common);
            if common.is_absolute() {
                repo.refs = Arc::new(RefFiles::new(Some(common), format.trim()));
            }
        }
        Ok(repo)
    }

    /// Names the repository in messages (`api's repository`).
    pub fn with_name(mut self, name: impl Into<String>) -> GitRepo {
        self.name = name.into();
        self
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The commit a branch, tag or commit id (full or abbreviated) names.
    /// Tries the ref as given, then as a local branch, a branch of `origin`
    /// and a tag, so a mirror that only has `origin/…` branches works too.
    ///
    /// Asked of the repository's long-lived `git cat-file --batch-command`,
    /// every candidate in one round trip; only when a name exists but is
    /// not a commit, is ambiguous, or the batch can't be used, does one
    /// `git rev-parse` per candidate say so in git's own words.
    pub fn resolve(&self, git_ref: &GitRef) -> Result<Commit, GitError> {
        let candidates = candidates(git_ref.as_str());
        let not_found = || GitError::NotFound {
            git_ref: git_ref.clone(),
            repository: self.name.clone(),
        };
        // The ref files first: no branch of that name costs no git at all.
        match self.refs.find(&candidates) {
            RefAnswer::Absent => return Err(not_found()),
            RefAnswer::Id(id) => {
                if let Some(commit) = self.batch.peel(self, &id) {
                    return Ok(commit);
                }
            }
            RefAnswer::AskGit => {}
        }
        match self.batch.lookup(self, &candidates) {
            Some(Lookup::Commit(commit)) => Ok(commit),
            Some(Lookup::Absent) => Err(GitError::NotFound {
                git_ref: git_ref.clone(),
                repository: self.name.clone(),
            }),
            Some(Lookup::AskGit) | None => self.resolve_one_by_one(git_ref, &candidates),
        }
    }

    /// [`resolve`](GitRepo::resolve) with one `git rev-parse` per candidate,
    /// so a failure is git's own message.
    fn resolve_one_by_one(
        &self,
        git_ref: &GitRef,
        candidates: &[String; 4],
    ) -> Result<Commit, GitError> {
        // A name that exists but is not a commit (a tag of a tree) says so on
        // stderr; keep the first such message in case no candidate resolves.
        let mut not_a_commit = None;
        for candidate in candidates {
            let out = self.git(&rev_parse_args(candidate))?;
            if let Some(commit) = out.commit()? {
                return Ok(commit);
            }
            if not_a_commit.is_none() && !out.stderr.trim().is_empty() {
                not_a_commit = Some(out.failure("rev-parse"));
            }
        }
        Err(not_a_commit.unwrap_or_else(|| GitError::NotFound {
            git_ref: git_ref.clone(),
            repository: self.name.clone(),
        }))
    }

    /// The commit's subject line, for display next to its short id.
    pub fn subject(&self, commit: &Commit) -> Result<String, GitError> {
        if let Some(subject) = self.batch.subject(self, commit) {
            return Ok(subject);
        }
        let out = self.git(&[
            "log",
            "-1",
            "--no-color",
            "--format=%s",
            "--end-of-options",
            commit.as_str(),
        ])?;
        if !out.exit.success() {
            return Err(out.failure("log"));
        }
        Ok(out
            .stdout
            .trim_end()
            .chars()
            .filter(|c| !c.is_control())
            .collect())
    }

    /// The spec of `git -C <repo> <args>`, read-only (no optional locks)
    /// and never looking above the repository.
    fn spec<S: AsRef<OsStr>>(&self, args: &[S]) -> Spec {
        let mut spec = git_spec(&self.path, args).env("GIT_OPTIONAL_LOCKS", "0");
        if let Some(ceiling) = &self.ceiling {
            spec = spec.env("GIT_CEILING_DIRECTORIES", ceiling);
        }
        spec
    }

    /// Runs `git -C <repo> <args>` with a time limit, read-only (no
    /// optional locks) and never looking above the repository.
    fn git<S: AsRef<OsStr>>(&self, args: &[S]) -> Result<GitOutput, GitError> {
        run_git(&self.spec(args), GIT_TIMEOUT)
    }
}

/// The names a typed ref may mean, in the order they are tried.
pub(super) fn candidates(r: &str) -> [String; 4] {
    [
        r.to_owned(),
        format!("refs/heads/{r}"),
        format!("refs/remotes/origin/{r}"),
        format!("refs/tags/{r}"),
    ]
}

/// `git -C <dir> <args>`: no prompts, C locale, no repository location
/// inherited from rushbox's environment.
fn git_spec<S: AsRef<OsStr>>(dir: &Path, args: &[S]) -> Spec {
    let spec = Spec::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("LC_ALL", "C");
    GIT_LOCATION_VARS
        .iter()
        .fold(spec, |spec, var| spec.env_remove(var))
}

/// Runs `git -C <dir> <args>` (see [`git_spec`]) for at most `timeout`,
/// both outputs captured.
pub(crate) fn git<S: AsRef<OsStr>>(
    dir: &Path,
    args: &[S],
    timeout: Duration,
) -> Result<GitOutput, GitError> {
    run_git(&git_spec(dir, args), timeout)
}

fn run_git(spec: &Spec, timeout: Duration) -> Result<GitOutput, GitError> {
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    let ended = process::run(
        spec,
        process::Output::Lines,
        Limits::new(timeout, GIT_GRACE),
        &mut |line| match line.stream {
            Stream::Stderr => stderr.push(line.text),
            _ => stdout.push(line.text),
        },
    )
    .map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => GitError::GitMissing,
        _ => GitError::GitFailed {
            message: format!("could not start git: {e}"),
        },
    })?;
    match ended {
        Ended::Exited(exit) => Ok(GitOutput {
            exit,
            stdout: stdout.join("\n"),
            stderr: stderr.join("\n"),
        }),
        Ended::TimedOut | Ended::Cancelled => Err(GitError::GitFailed {
            message: format!(
                "git took longer than {}s and was stopped",
                timeout.as_secs()
            ),
        }),
    }
}

/// The commit `candidate` names in the repository at `dir` (`None` when it
/// names nothing there), asked with [`rev_parse_args`].
pub(crate) fn rev_parse(
    dir: &Path,
    candidate: &str,
    timeout: Duration,
) -> Result<Option<Commit>, GitError> {
    git(dir, &rev_parse_args(candidate), timeout)?.commit()
}

/// `rev-parse` for one candidate name: the name comes after
/// `--end-of-options`, so even a name starting with `-` is never an option.
fn rev_parse_args(candidate: &str) -> [String; 5] {
    [
        "rev-parse".to_owned(),
        "--verify".to_owned(),
        "--quiet".to_owned(),
        "--end-of-options".to_owned(),
        format!("{candidate}^{{commit}}"),
    ]
}

/// What one git command did: how it ended and its output, as lines joined.
pub(crate) struct GitOutput {
    pub exit: Exit,
    pub stdout: String,
    pub stderr: String,
}

impl GitOutput {
    /// Why `git <what>` failed: its stderr, or how it exited.
    pub fn failure(&self, what: &str) -> GitError {
        let stderr = self.stderr.trim();
        let message = if stderr.is_empty() {
            format!("`git {what}` {}", self.exit)
        } else {
            format!("`git {what}`: {stderr}")
        };
        GitError::GitFailed { message }
    }

    /// The commit a `rev-parse` of [`rev_parse_args`] printed; `None` for
    /// its silent exit 1 (`--quiet`: no such ref); other ends are git failing.
    fn commit(&self) -> Result<Option<Commit>, GitError> {
        if self.exit.success() {
            let sha = self.stdout.trim();
            return Commit::parse(sha)
                .map(Some)
                .ok_or_else(|| GitError::GitFailed {
                    message: format!("rev-parse printed `{sha}`, not a commit id"),
                });
        }
        match self.exit.code() {
            Some(1) => Ok(None),
            _ => Err(self.failure("rev-parse")),
        }
    }
}

/// Turns a ref into the full commit id it names (git in production).
pub trait RefResolver: Send + Sync {
    fn resolve(&self, app: &AppName, git_ref: &GitRef) -> Result<String, String>;
}

/// A resolver with a fixed table of refs, for tests and dry runs.
#[derive(Debug, Clone, Default)]
pub struct FixedRefs {
    refs: HashMap<String, String>,
}

impl FixedRefs {
    pub fn new<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> FixedRefs {
        FixedRefs {
            refs: pairs
                .into_iter()
                .map(|(r, c)| (r.to_owned(), c.to_owned()))
                .collect(),
        }
    }
}

impl RefResolver for FixedRefs {
    fn resolve(&self, _app: &AppName, git_ref: &GitRef) -> Result<String, String> {
        self.refs
            .get(git_ref.as_str())
            .cloned()
            .ok_or_else(|| format!("no branch, tag or commit called `{git_ref}`"))
    }
}

/// Resolves refs in each app's own repository.
///
/// ```no_run
/// use rushbox_command::{AppName, GitRef};
/// use rushbox_pipeline::RefResolver;
/// use rushbox_pipeline::git::{GitRepo, GitResolver};
/// let mut resolver = GitResolver::new();
/// resolver.insert(AppName::parse("api").unwrap(), GitRepo::open("repos/api.git")?);
/// let sha = resolver.resolve(&AppName::parse("api").unwrap(), &GitRef::parse("main").unwrap());
/// # Ok::<(), rushbox_pipeline::git::GitError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct GitResolver {
    repos: BTreeMap<AppName, GitRepo>,
}

impl GitResolver {
    pub fn new() -> GitResolver {
        GitResolver::default()
    }

    /// Adds (or replaces) `app`'s repository; messages then call it `app`'s.
    pub fn insert(&mut self, app: AppName, repo: GitRepo) {
        let repo = repo.with_name(app.as_str());
        self.repos.insert(app, repo);
    }

    pub fn repo(&self, app: &AppName) -> Option<&GitRepo> {
        self.repos.get(app)
    }
}

impl RefResolver for GitResolver {
    fn resolve(&self, app: &AppName, git_ref: &GitRef) -> Result<String, String> {
        let Some(repo) = self.repos.get(app) else {
            let known: Vec<&str> = self.repos.keys().map(AppName::as_str).collect();
            let known = if known.is_empty() {
                "none configured".to_owned()
            } else {
                known.join(", ")
            };
            return Err(format!("unknown app `{app}`; known: {known}"));
        };
        repo.resolve(git_ref)
            .map(|commit| commit.0)
            .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ref_always_comes_after_end_of_options() {
        let args = rev_parse_args("x");
        let end = args.iter().position(|a| a == "--end-of-options");
        assert_eq!(end, Some(args.len() - 2));
        assert_eq!(args[args.len() - 1], "x^{commit}");
    }

    #[test]
    fn commit_ids_are_full_lowercase_hex() {
        let sha = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(
            Commit::parse(sha).map(|c| c.short().to_owned()),
            Some("01234567".to_owned())
        );
        assert!(Commit::parse(&"a".repeat(64)).is_some());
        for bad in [
            "",
            "0123456",
            &sha.to_uppercase(),
            &format!("{sha}\n"),
            &"g".repeat(40),
        ] {
            assert_eq!(Commit::parse(bad), None, "{bad:?}");
        }
    }
}
