//! The files of the local provider: git worktrees (git runs as an argument
//! list, commits after `--end-of-options`), artifact keys, and copies of
//! directories (copy-on-write where the file system does it).

use std::ffi::OsStr;
use std::fs;
use std::io;
use std::path::Path;
use std::process::{Command, Stdio};

use sha2::{Digest, Sha256};

use super::Argv;

use crate::git::GIT_LOCATION_VARS;

/// What went wrong running git, for a message.
pub(super) enum GitFailure {
    /// Git said no (exit 1 of `rev-parse --verify --quiet`, for instance).
    Exit { code: Option<i32>, stderr: String },
    /// Git could not be run at all.
    Start(io::Error),
}

impl GitFailure {
    pub fn describe(&self, what: &str) -> String {
        match self {
            GitFailure::Exit { stderr, code } if stderr.trim().is_empty() => {
                let code = code.map_or("a signal".to_owned(), |c| format!("code {c}"));
                format!("`git {what}` exited with {code}")
            }
            GitFailure::Exit { stderr, .. } => format!("`git {what}`: {}", stderr.trim()),
            GitFailure::Start(e) if e.kind() == io::ErrorKind::NotFound => {
                "git is not installed (no `git` on PATH)".to_owned()
            }
            GitFailure::Start(e) => format!("could not start git: {e}"),
        }
    }
}

/// `git -C <dir> <args>`: no prompts, no inherited repository location,
/// output captured. Local operations only, so no time limit.
fn git<S: AsRef<OsStr>>(dir: &Path, args: &[S]) -> Result<String, GitFailure> {
    let mut command = Command::new("git");
    command
        .arg("-C")
        .arg(dir)
        .args(args)
        .stdin(Stdio::null())
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("LC_ALL", "C");
    for var in GIT_LOCATION_VARS {
        command.env_remove(var);
    }
    let out = command.output().map_err(GitFailure::Start)?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    } else {
        Err(GitFailure::Exit {
            code: out.status.code(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }
}

/// The full id of the commit `commit` names in `repo`; `Ok(None)` when it
/// names nothing there.
pub(super) fn resolve_commit(repo: &Path, commit: &str) -> Result<Option<String>, String> {
    let spec = format!("{commit}^{{commit}}");
    match git(
        repo,
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            "--end-of-options",
            &spec,
        ],
    ) {
        Ok(full) => Ok(Some(full)),
        Err(GitFailure::Exit { code: Some(1), .. }) => Ok(None),
        Err(e) => Err(e.describe("rev-parse")),
    }
}

/// Puts `worktree` at `commit` (detached): checks out in place when it
/// already is a worktree, adds it otherwise. Returns whether it was added
/// now (so a failed first deploy can remove it again).
pub(super) fn checkout(repo: &Path, worktree: &Path, commit: &str) -> Result<bool, String> {
    if worktree.join(".git").exists() {
        git(
            worktree,
            &[
                "checkout",
                "--quiet",
                "--detach",
                "--force",
                "--end-of-options",
                commit,
            ],
        )
        .map_err(|e| e.describe("checkout"))?;
        return Ok(false);
    }
    if let Some(parent) = worktree.parent() {
        fs::create_dir_all(parent)
            .map_err(|e| format!("could not make the worktree's directory: {e}"))?;
    }
    // A worktree registered but gone (removed by hand) would block `add`.
    let _ = git(repo, &["worktree", "prune"]);
    let added = git(
        repo,
        &[
            OsStr::new("worktree"),
            OsStr::new("add"),
            OsStr::new("--quiet"),
            OsStr::new("--detach"),
            OsStr::new("--force"),
            OsStr::new("--end-of-options"),
            worktree.as_os_str(),
            OsStr::new(commit),
        ],
    );
    match added {
        Ok(_) => Ok(true),
        Err(e) => {
            remove_worktree(repo, worktree);
            Err(e.describe("worktree add"))
        }
    }
}

/// Removes a worktree and git's record of it; whatever is in the way.
pub(super) fn remove_worktree(repo: &Path, worktree: &Path) {
    if worktree.exists() {
        let _ = git(
            repo,
            &[
                OsStr::new("worktree"),
                OsStr::new("remove"),
                OsStr::new("--force"),
                OsStr::new("--force"),
                OsStr::new("--end-of-options"),
                worktree.as_os_str(),
            ],
        );
    }
    let _ = remove_dir(worktree);
    let _ = git(repo, &["worktree", "prune"]);
}

/// Whether `repo` is a git repository (bare or not).
pub(super) fn is_repository(repo: &Path) -> bool {
    repo.is_dir() && git(repo, &["rev-parse", "--git-dir"]).is_ok()
}

/// The artifact of one build of one commit: sha256 of both, in hex. Without
/// a build command the artifact is the worktree itself, keyed apart.
pub(super) fn artifact_key(commit: &str, build: Option<&Argv>) -> String {
    let mut hash = Sha256::new();
    hash.update(b"rushbox-artifact-v1\0");
    hash.update(commit.as_bytes());
    hash.update(b"\0");
    match build {
        Some(argv) => {
            hash.update(b"build\0");
            for arg in argv.iter() {
                hash.update(arg.as_bytes());
                hash.update(b"\0");
            }
        }
        None => hash.update(b"copy\0"),
    }
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Copies the tree at `from` into the new directory `to`: files through
/// `fs::copy` (which clones extents on Linux file systems that can, and
/// uses `clonefile` on macOS), symlinks as symlinks, and nothing named in
/// `skip` at the top. Sockets and fifos are left out.
pub(super) fn copy_tree(from: &Path, to: &Path, skip: &[&str]) -> io::Result<()> {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let name = entry.file_name();
        if skip.iter().any(|s| OsStr::new(s) == name) {
            continue;
        }
        let source = entry.path();
        let target = to.join(&name);
        let kind = entry.file_type()?;
        if kind.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(&source)?, &target)?;
        } else if kind.is_dir() {
            copy_tree(&source, &target, &[])?;
        } else if kind.is_file() {
            fs::copy(&source, &target)?;
        }
    }
    Ok(())
}

/// `remove_dir_all` that counts an already missing directory as removed.
pub(super) fn remove_dir(path: &Path) -> io::Result<()> {
    match fs::remove_dir_all(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifact_keys_depend_on_commit_and_build() {
        let build = Argv::parse(["make", "dist"]).ok();
        let other = Argv::parse(["make", "dist", "-j"]).ok();
        let a = artifact_key("abc", build.as_ref());
        assert_eq!(a.len(), 64);
        assert_eq!(a, artifact_key("abc", build.as_ref()));
        assert_ne!(a, artifact_key("abd", build.as_ref()));
        assert_ne!(a, artifact_key("abc", other.as_ref()));
        assert_ne!(a, artifact_key("abc", None));
        // Arguments are separated, so moving a boundary changes the key.
        let split = Argv::parse(["make", "di", "st"]).ok();
        assert_ne!(a, artifact_key("abc", split.as_ref()));
    }
}
