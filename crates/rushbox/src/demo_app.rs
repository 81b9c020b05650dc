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
    git(app, &["checkout", "-q", "main"])
}

/// Runs git in `dir` as the demo's author.
pub fn git(dir: &Path, args: &[&str]) -> Result<(), String> {
    let status = Command::new("git")
        .args([
            "-c",
            "user.name=rushbox demo",
            "-c",
            "user.email=demo@rushbox.invalid",
        ])
        .args(args)
        .current_dir(dir)
        .status()
        .map_err(|e| format!("can't run git: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "git {} failed in {}",
            args.join(" "),
            dir.display()
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
