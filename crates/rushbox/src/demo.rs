//! `rushbox demo`: the whole pipeline on this machine in one command. It
//! makes a small sample app repository (standard library only, so building
//! needs no network) with a `main` branch and a `foo` branch that changes
//! what the page shows, a config that runs it with the `local` provider
//! behind the router, puts `main` on staging and prod, and opens the shell.

use std::path::{Path, PathBuf};

use crate::config::Config;

/// Makes (once) the demo's app repository and config under `dir`; returns
/// the config path and whether this is the first run (staging and prod still to set up).
pub fn prepare(dir: &Path, user: &str, listen: &str) -> Result<(PathBuf, bool), String> {
    let app = dir.join("app");
    let first = !app.join(".git").exists();
    if first {
        rushbox::demo_app::make_app(&app)?;
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

/// Loads the demo's config.
pub fn load(config: &Path) -> Result<Config, String> {
    Config::load(config).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

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
