//! The files of the local provider: git worktrees (git runs through
//! [`crate::git`], commits after `--end-of-options`), artifact keys, and
//! copies of directories (copy-on-write where the file system does it).

use std::ffi::OsStr;
use std::fs;
use std::io;
use std::path::Path;
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::Argv;
use crate::git::GitError;

/// How long one git command on a worktree may take (a checkout of a
/// large repository is slow, but never this slow).
const GIT_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// `git -C <dir> <args>` (through [`crate::git`]); its stdout trimmed, or
/// what went wrong, for a message.
fn git<S: AsRef<OsStr>>(dir: &Path, args: &[S], what: &str) -> Result<String, String> {
    let out = crate::git::git(dir, args, GIT_TIMEOUT).map_err(describe)?;
    if out.exit.success() {
        Ok(out.stdout.trim().to_owned())
    } else {
        Err(describe(out.failure(what)))
    }
}

/// A git error in words that fit after "checking out … failed: ".
fn describe(error: GitError) -> String {
    match error {
        GitError::GitFailed { message } => message,
        GitError::GitMissing => "git is not installed (no `git` on PATH)".to_owned(),
        other => other.to_string(),
    }
}

/// The full id of the commit `commit` names in `repo`; `Ok(None)` when it
/// names nothing there.
pub(super) fn resolve_commit(repo: &Path, commit: &str) -> Result<Option<String>, String> {
    crate::git::rev_parse(repo, commit, GIT_TIMEOUT)
        .map(|found| found.map(|c| c.as_str().to_owned()))
        .map_err(describe)
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
            "checkout",
        )?;
        return Ok(false);
    }
    if let Some(parent) = worktree.parent() {
        fs::create_dir_all(parent)
            .map_err(|e| format!("could not make the worktree's directory: {e}"))?;
    }
    // A worktree registered but gone (removed by hand) would block `add`.
    let _ = git(repo, &["worktree", "prune"], "worktree prune");
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
        "worktree add",
    );
    match added {
        Ok(_) => Ok(true),
        Err(e) => {
            remove_worktree(repo, worktree);
            Err(e)
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
            "worktree remove",
        );
    }
    let _ = remove_dir(worktree);
    let _ = git(repo, &["worktree", "prune"], "worktree prune");
}

/// Whether `repo` is a git repository (bare or not).
pub(super) fn is_repository(repo: &Path) -> bool {
    repo.is_dir() && git(repo, &["rev-parse", "--git-dir"], "rev-parse").is_ok()
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
