//! What the binary's end-to-end tests share: an app repository to deploy.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// `dir/app`: a git repository with `main` and `foo`, checked out at `main`.
pub fn app_repo(dir: &Path) -> PathBuf {
    let repo = dir.join("app");
    std::fs::create_dir(&repo).unwrap();
    let git = |args: &[&str]| {
        let status = Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid"])
            .args(args)
            .current_dir(&repo)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "git {args:?}");
    };
    git(&["init", "-q", "-b", "main"]);
    std::fs::write(repo.join("README"), "hello\n").unwrap();
    git(&["add", "README"]);
    git(&["commit", "-q", "-m", "first"]);
    git(&["checkout", "-q", "-b", "foo"]);
    std::fs::write(repo.join("README"), "hello foo\n").unwrap();
    git(&["commit", "-q", "-am", "foo"]);
    git(&["checkout", "-q", "main"]);
    repo
}
