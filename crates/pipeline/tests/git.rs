//! Resolving refs against real repositories made by real git in a tempdir.

mod common;

use std::path::Path;
use std::process::Command;

use rushbox_command::{AppName, GitRef};
use rushbox_pipeline::RefResolver;
use rushbox_pipeline::git::{GitError, GitRepo, GitResolver};

use common::git;

fn commit_file(dir: &Path, file: &str, text: &str, message: &str) -> String {
    std::fs::write(dir.join(file), text).unwrap();
    git(dir, &["add", "--", file]);
    git(dir, &["commit", "-q", "-m", message]);
    git(dir, &["rev-parse", "HEAD"])
}

/// main: first, second (tagged v1.0); feature/x: feature work; `fix#1+x` off main.
struct Fixture {
    _dir: tempfile::TempDir,
    repo: GitRepo,
    first: String,
    second: String,
    feature: String,
    hostile: String,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    git(path, &["init", "-q", "-b", "main"]);
    let first = commit_file(path, "a.txt", "1", "First commit");
    let second = commit_file(path, "a.txt", "2", "Second: the one we tag");
    git(path, &["tag", "-a", "v1.0", "-m", "release 1.0"]);
    git(path, &["switch", "-q", "-c", "feature/x"]);
    let feature = commit_file(path, "b.txt", "x", "Feature work");
    git(path, &["switch", "-q", "-c", "fix#1+x", "main"]);
    let hostile = commit_file(path, "c.txt", "y", "Odd branch name");
    git(path, &["switch", "-q", "main"]);
    let repo = GitRepo::open(path).unwrap();
    Fixture {
        _dir: dir,
        repo,
        first,
        second,
        feature,
        hostile,
    }
}

fn r(s: &str) -> GitRef {
    GitRef::parse(s).unwrap()
}

#[test]
fn branches_tags_and_commit_ids_resolve_to_full_commits() {
    let f = fixture();
    for (asked, expected) in [
        ("main", &f.second),
        ("feature/x", &f.feature),
        ("fix#1+x", &f.hostile),
        ("v1.0", &f.second),
        (f.first.as_str(), &f.first),
        (&f.first[..7], &f.first),
        (&f.feature[..10], &f.feature),
    ] {
        let commit = f.repo.resolve(&r(asked)).unwrap();
        assert_eq!(commit.as_str(), expected, "{asked}");
        assert_eq!(commit.as_str().len(), 40);
    }
}

#[test]
fn a_branch_only_on_origin_resolves() {
    let f = fixture();
    let clone = tempfile::tempdir().unwrap();
    let clone_path = clone.path().join("api");
    let out = Command::new("git")
        .args(["clone", "-q", "--bare", "--end-of-options"])
        .arg(f.repo.path())
        .arg(&clone_path)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap();
    assert!(out.status.success());
    // Turn the clone's branch into a remote-tracking one only.
    git(
        &clone_path,
        &["update-ref", "refs/remotes/origin/only-remote", &f.feature],
    );
    let bare = GitRepo::open(&clone_path).unwrap();
    assert_eq!(bare.resolve(&r("only-remote")).unwrap().as_str(), f.feature);
    assert_eq!(bare.resolve(&r("v1.0")).unwrap().as_str(), f.second);
}

#[test]
fn short_ids_and_subjects_are_for_display() {
    let f = fixture();
    let commit = f.repo.resolve(&r("v1.0")).unwrap();
    assert_eq!(commit.short(), &f.second[..8]);
    assert_eq!(f.repo.subject(&commit).unwrap(), "Second: the one we tag");
}

#[test]
fn an_unknown_ref_says_push_it_first() {
    let f = fixture();
    let err = f.repo.resolve(&r("feature/nope")).unwrap_err();
    assert!(
        matches!(&err, GitError::NotFound { git_ref, .. } if git_ref.as_str() == "feature/nope")
    );
    let text = err.to_string();
    assert!(text.contains("branch `feature/nope` not found"), "{text}");
    assert!(text.contains("push it first"), "{text}");
}

#[test]
fn refs_that_would_read_as_options_cannot_be_built() {
    for option in ["--output=x", "-h", "feature/--exec=id", "--end-of-options"] {
        assert!(GitRef::parse(option).is_err(), "{option}");
    }
}

#[test]
fn a_branch_named_like_a_file_is_a_branch() {
    // A file and a branch both called `x`: the ref is read as a revision
    // after `--end-of-options`, never as a path or an option.
    let f = fixture();
    let path = f.repo.path();
    git(path, &["branch", "x", &f.first]);
    std::fs::write(path.join("x"), "a file, not a ref").unwrap();
    assert_eq!(f.repo.resolve(&r("x")).unwrap().as_str(), f.first);
    // `x~1` can't be typed (GitRef refuses `~`), and `x^{commit}` is added
    // by us, so a file can never be named by a ref.
    assert!(GitRef::parse("x~1").is_err());
}

#[test]
fn a_plain_directory_is_not_a_repository_even_inside_one() {
    let outside = tempfile::tempdir().unwrap();
    let err = GitRepo::open(outside.path()).unwrap_err();
    assert!(matches!(err, GitError::NotARepository { .. }), "{err:?}");
    assert!(err.to_string().contains("is not a git repository"));

    let missing = outside.path().join("missing");
    assert!(matches!(
        GitRepo::open(&missing),
        Err(GitError::NotARepository { .. })
    ));

    // A subdirectory of a repository is not that repository.
    let f = fixture();
    let sub = f.repo.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    assert!(matches!(
        GitRepo::open(&sub),
        Err(GitError::NotARepository { .. })
    ));
}

#[test]
fn the_resolver_maps_apps_to_their_repositories() {
    let f = fixture();
    let mut resolver = GitResolver::new();
    resolver.insert(AppName::parse("api").unwrap(), f.repo.clone());
    resolver.insert(AppName::parse("web").unwrap(), f.repo.clone());
    let api = AppName::parse("api").unwrap();
    assert_eq!(resolver.resolve(&api, &r("main")), Ok(f.second.clone()));

    let err = resolver.resolve(&api, &r("nope")).unwrap_err();
    assert!(
        err.contains("branch `nope` not found in api's repository"),
        "{err}"
    );

    let err = resolver
        .resolve(&AppName::parse("shop").unwrap(), &r("main"))
        .unwrap_err();
    assert_eq!(err, "unknown app `shop`; known: api, web");
}

#[test]
fn a_branch_pushed_after_a_miss_is_found_loose_or_packed() {
    let f = fixture();
    let path = f.repo.path().to_path_buf();
    // Asked once (the batch is running), then the branch appears.
    assert!(matches!(
        f.repo.resolve(&r("late")),
        Err(GitError::NotFound { .. })
    ));
    git(&path, &["branch", "late", &f.first]);
    assert_eq!(f.repo.resolve(&r("late")).unwrap().as_str(), f.first);
    // Moved, then packed into packed-refs: the answer follows.
    git(&path, &["branch", "-f", "late", &f.feature]);
    git(&path, &["pack-refs", "--all"]);
    assert_eq!(f.repo.resolve(&r("late")).unwrap().as_str(), f.feature);
    git(&path, &["branch", "-D", "late"]);
    assert!(matches!(
        f.repo.resolve(&r("late")),
        Err(GitError::NotFound { .. })
    ));
    // Clones share the one batch and see the same repository.
    let clone = f.repo.clone();
    assert_eq!(clone.resolve(&r("main")).unwrap().as_str(), f.second);
}

#[test]
fn a_name_for_something_that_is_not_a_commit_says_so_in_gits_words() {
    let f = fixture();
    let path = f.repo.path().to_path_buf();
    let tree = git(&path, &["rev-parse", "HEAD^{tree}"]);
    git(&path, &["tag", "just-a-tree", &tree]);
    let err = f.repo.resolve(&r("just-a-tree")).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, GitError::GitFailed { .. }), "{text}");
    assert!(text.contains("expected commit type"), "{text}");
}

#[test]
fn a_subject_is_the_first_paragraph_on_one_line() {
    let f = fixture();
    let path = f.repo.path().to_path_buf();
    std::fs::write(path.join("d.txt"), "z").unwrap();
    git(&path, &["add", "d.txt"]);
    git(
        &path,
        &[
            "commit",
            "-q",
            "-m",
            "Two lines\nof subject\n\nThe body, not shown.",
        ],
    );
    let head = f.repo.resolve(&r("main")).unwrap();
    let expected = git(&path, &["log", "-1", "--format=%s"]);
    assert_eq!(expected, "Two lines of subject");
    assert_eq!(f.repo.subject(&head).unwrap(), expected);
    // Asked again: the same, remembered.
    assert_eq!(f.repo.subject(&head).unwrap(), expected);
}

/// What git itself says a typed ref names, trying the resolver's candidates in order.
fn git_says(dir: &Path, name: &str) -> Option<String> {
    [
        name.to_owned(),
        format!("refs/heads/{name}"),
        format!("refs/remotes/origin/{name}"),
        format!("refs/tags/{name}"),
    ]
    .iter()
    .find_map(|candidate| {
        let out = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(["rev-parse", "--verify", "--quiet", "--end-of-options"])
            .arg(format!("{candidate}^{{commit}}"))
            .output()
            .unwrap();
        out.status
            .success()
            .then(|| String::from_utf8(out.stdout).unwrap().trim().to_owned())
    })
}

#[test]
fn every_answer_is_the_one_git_gives() {
    let f = fixture();
    let path = f.repo.path().to_path_buf();
    // A tag and a branch of one name (git prefers the tag), a branch only
    // on origin, a packed branch, nested names, and a name that is hex.
    git(&path, &["branch", "same", &f.first]);
    git(&path, &["tag", "same", &f.feature]);
    git(
        &path,
        &["update-ref", "refs/remotes/origin/far", &f.hostile],
    );
    git(&path, &["branch", "packed/one", &f.first]);
    git(&path, &["pack-refs", "--all"]);
    git(&path, &["branch", "deep/er/still", &f.second]);
    git(&path, &["branch", "cafe", &f.feature]);
    // Full names given again by the rules: `odd` finds refs/tags/refs/heads/odd.
    git(&path, &["update-ref", "refs/tags/refs/heads/odd", &f.first]);
    for name in [
        "main",
        "v1.0",
        "feature/x",
        "fix#1+x",
        "same",
        "far",
        "packed/one",
        "deep/er/still",
        "deep/er",
        "deep",
        "cafe",
        "nope",
        "feature",
        "refs/heads/main",
        "refs/tags/v1.0",
    ] {
        let ours = f.repo.resolve(&r(name)).ok().map(|c| c.to_string());
        assert_eq!(ours, git_says(&path, name), "{name}");
    }
}
