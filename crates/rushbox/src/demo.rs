//! `rushbox demo`: the whole pipeline on this machine in one command. It
//! makes a small sample app repository (standard library only, so building
//! needs no network) with a `main` branch and a `foo` branch that changes
//! what the page shows, a config that runs it with the `local` provider
//! behind the router, puts `main` on staging and prod, and opens the shell.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::config::Config;

const APP_MAIN: &str = include_str!("demo/app_main.rs.txt");
const APP_CARGO: &str = include_str!("demo/app_cargo.toml.txt");
const APP_BUILD: &str = include_str!("demo/app_build.sh.txt");

/// What the `foo` branch changes: the note, the colour and the branch name on the page.
const FOO_CHANGES: [(&str, &str); 3] = [
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

/// Makes (once) the demo's app repository and config under `dir`; returns
/// the config path and whether this is the first run (staging and prod still to set up).
pub fn prepare(dir: &Path, user: &str, listen: &str) -> Result<(PathBuf, bool), String> {
    let app = dir.join("app");
    let first = !app.join(".git").exists();
    if first {
        make_app(&app)?;
    }
    let config = dir.join("rushbox.toml");
    if !config.exists() {
        std::fs::write(&config, config_text(user, listen))
            .map_err(|e| format!("can't write {}: {e}", config.display()))?;
    }
    Ok((config, first))
}

/// The lines the demo runs first, as its user, on a first run.
pub fn preamble() -> Vec<String> {
    vec![
        "deploy branch main to staging".to_owned(),
        "promote staging to prod".to_owned(),
    ]
}

fn config_text(user: &str, listen: &str) -> String {
    format!(
        r#"# The rushbox demo: the sample app in ./app, run on this machine by the
# local provider, served at http://<env>.localhost:{port}. Made by `rushbox demo`.
store = "state/db"

[provider]
kind = "local"

[provider.local]
root = "envs"

[provider.local.apps.demo]
build = ["sh", "build.sh"]
run = ["./demo-app"]
health = "/health"

[router]
listen = "{listen}"

[[apps]]
name = "demo"
repo = "app"

[roles]
leads = ["shell:{user}"]
developers = ["*"]
"#,
        port = listen.rsplit(':').next().unwrap_or("8080"),
    )
}

fn make_app(app: &Path) -> Result<(), String> {
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

fn git(dir: &Path, args: &[&str]) -> Result<(), String> {
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

/// Loads the demo's config.
pub fn load(config: &Path) -> Result<Config, String> {
    Config::load(config).map_err(|e| e.to_string())
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

    #[test]
    fn the_demo_config_is_valid() {
        let config = Config::parse(
            &config_text("alice", "127.0.0.1:8080"),
            "demo",
            Path::new("/demo"),
        )
        .unwrap();
        assert_eq!(config.pipeline.roles.leads, vec!["shell:alice".to_owned()]);
        assert_eq!(
            config.provider.local.as_ref().map(|l| l.root.clone()),
            Some(PathBuf::from("/demo/envs"))
        );
    }
}
