//! The demo's sample app: a small web app using only the standard library
//! (so building it needs no network), made into a git repository with a
//! `main` branch and a `foo` branch that changes what its page shows. Used
//! by `rushbox demo`, its tests and the env latency benchmark.

use std::path::Path;
use std::process::Command;

pub const APP_MAIN: &str = include_str!("demo/app_main.rs.txt");
pub const APP_CARGO: &str = include_str!("demo/app_cargo.toml.txt");
pub const APP_BUILD: &str = include_str!("demo/app_build.sh.txt");

/// What the `foo` branch changes: the note, the colour and the branch name on the page.
pub const FOO_CHANGES: [(&str, &str); 3] = [
    (
        "const NOTE: &str = \"The app as it runs in production.\";",
        "const NOTE: &str = \"The foo feature: a new colour and this note, waiting for review.\";",
    ),
    (
        "const COLOR: &str = \"#2b6cb0\";",
        "const COLOR: &str = \"#c05621\";",
    ),
    (
        "const BRANCH: &str = \"main\";",
        "const BRANCH: &str = \"foo\";",
    ),
];

/// The page's visit counter in the demo's staging data to begin with, so a
/// dev env's first page shows that its data is a copy of staging's.
pub const STAGING_SEED_VISITS: u64 = 41;

/// Makes the sample app's repository in `app` (which must not exist yet or be empty).
pub fn make_app(app: &Path) -> Result<(), String> {
    let write = |path: &str, text: &str| {
        let file = app.join(path);
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("can't create {}: {e}", parent.display()))?;
        }
        std::fs::write(&file, text).map_err(|e| format!("can't write {}: {e}", file.display()))
    };
    write("Cargo.toml", APP_CARGO)?;
    write("src/main.rs", APP_MAIN)?;
    write("build.sh", APP_BUILD)?;
    write(".gitignore", "/target\n")?;
    git(app, &["init", "-q", "-b", "main"])?;
    git(app, &["add", "."])?;
    git(app, &["commit", "-q", "-m", "The demo app"])?;
    git(app, &["checkout", "-q", "-b", "foo"])?;
    let mut feature = APP_MAIN.to_owned();
    for (from, to) in FOO_CHANGES {
        feature = feature.replace(from, to);
    }
    write("src/main.rs", &feature)?;
    git(
        app,
        &["commit", "-q", "-am", "foo: a new colour and a note"],
    )?;
    git(app, &["checkout", "-q", "main"]).map(drop)
}

/// Whether `app` is a whole sample app: a repository with both branches.
pub fn is_whole(app: &Path) -> bool {
    ["refs/heads/main", "refs/heads/foo"]
        .iter()
        .all(|branch| git(app, &["rev-parse", "--verify", "--quiet", branch]).is_ok())
}

/// Puts the current build script on both branches, each with a commit of
/// its own, where an older one is: the one of an older rushbox built into
/// `target/`, which breaks when cargo is told to build elsewhere. Returns
/// whether anything changed. Leaves `main` checked out.
pub fn update_build_script(app: &Path) -> Result<bool, String> {
    let mut changed = false;
    for branch in ["main", "foo"] {
        // A branch (or script) someone removed is theirs to keep that way.
        match git(app, &["show", &format!("{branch}:build.sh")]) {
            Ok(script) if script != APP_BUILD => {}
            _ => continue,
        }
        git(app, &["checkout", "-q", branch])?;
        let script = app.join("build.sh");
        std::fs::write(&script, APP_BUILD)
            .map_err(|e| format!("can't write {}: {e}", script.display()))?;
        git(
            app,
            &[
                "commit",
                "-q",
                "-m",
                "build.sh: build where cargo is told, whatever its configuration",
                "build.sh",
            ],
        )?;
        changed = true;
    }
    git(app, &["checkout", "-q", "main"])?;
    Ok(changed)
}

/// Runs git in `dir` as the demo's author; what it printed, or why it failed.
pub fn git(dir: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=rushbox demo",
            "-c",
            "user.email=demo@rushbox.invalid",
        ])
        .args(args)
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("can't run git: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "git {} failed in {}: {}",
            args.join(" "),
            dir.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_foo_branch_changes_what_the_page_shows() {
        for (from, _) in FOO_CHANGES {
            assert!(
                APP_MAIN.contains(from),
                "{from} is no longer in the demo app"
            );
        }
    }
}
