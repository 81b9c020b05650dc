//! `rushbox demo`: the whole pipeline on this machine in one command. It
//! makes a small sample app repository (standard library only, so building
//! needs no network) with a `main` branch and a `foo` branch that changes
//! what the page shows, a config that runs it with the `local` provider
//! behind the router, puts `main` on staging and prod, and opens the shell.

use std::path::{Path, PathBuf};

use rushbox::demo_app;
use rushbox_command::{AppName, EnvName};

use crate::config::Config;

/// Makes what is missing of the demo under `dir`: its config, the sample
/// app's repository (whole, with the current build script), and staging's
/// seeded data. Returns the config path and whether staging and prod still
/// need setting up: on a first run, and after one that was cut short or
/// failed, since that is read from what the local provider has deployed.
pub fn prepare(dir: &Path, user: &str, listen: &str) -> Result<(PathBuf, bool), String> {
    let config_path = dir.join("rushbox.toml");
    if !config_path.exists() {
        std::fs::write(&config_path, config_text(user, listen))
            .map_err(|e| format!("can't write {}: {e}", config_path.display()))?;
    }
    let text = std::fs::read_to_string(&config_path)
        .map_err(|e| format!("can't read {}: {e}", config_path.display()))?;
    let base = dir
        .canonicalize()
        .map_err(|e| format!("can't find {}: {e}", dir.display()))?;
    // Only the values: the app's repository may be what is missing.
    let config = Config::parse(&text, &config_path.display().to_string(), &base)
        .map_err(|e| e.to_string())?;
    let (Some(app), Some(local)) = (config.pipeline.apps.first(), &config.provider.local) else {
        return Err(format!(
            "{} is not the demo's config (it needs an app and `[provider.local]`); \
             start over with `rm -rf {}`",
            config_path.display(),
            dir.display()
        ));
    };
    let set_up = [EnvName::staging(), EnvName::prod()]
        .iter()
        .all(|env| deployed(&local.root, &app.name, env));
    if !set_up && !demo_app::is_whole(&app.repo) {
        make_app(&app.repo)?;
    }
    demo_app::update_build_script(&app.repo)?;
    if !set_up {
        seed_staging(&local.root, &app.name)?;
    }
    Ok((config_path, !set_up))
}

/// Makes the sample app beside `app`, then moves it into place, so an
/// interrupted run leaves a whole app or none; a half-made one goes first.
fn make_app(app: &Path) -> Result<(), String> {
    let partial = app.with_extension("partial");
    for dir in [app, partial.as_path()] {
        match std::fs::remove_dir_all(dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(format!("can't remove {}: {e}", dir.display()));
            }
            _ => {}
        }
    }
    demo_app::make_app(&partial)?;
    std::fs::rename(&partial, app)
        .map_err(|e| format!("can't move the app into {}: {e}", app.display()))
}

/// Whether the local provider has a build running for `env`: its record
/// (`envs/<app>/<env>.json` under the provider's root) names an artifact,
/// and the artifact is there. A deploy writes that only once it is healthy.
fn deployed(root: &Path, app: &AppName, env: &EnvName) -> bool {
    let record = root
        .join("envs")
        .join(app.as_str())
        .join(format!("{}.json", env.as_str()));
    std::fs::read(record)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .and_then(|record| {
            record["artifact"]
                .as_str()
                .map(|key| root.join("artifacts").join(key))
        })
        .is_some_and(|artifact| artifact.is_dir())
}

/// Gives staging's data (`data/<app>/staging` under the provider's root)
/// a visit count to start from, unless it has one: a dev env's first page
/// then shows the count it was cloned with, not 1.
fn seed_staging(root: &Path, app: &AppName) -> Result<(), String> {
    let data = root.join("data").join(app.as_str()).join("staging");
    let visits = data.join("visits");
    if visits.exists() {
        return Ok(());
    }
    std::fs::create_dir_all(&data)
        .and_then(|()| std::fs::write(&visits, format!("{}\n", demo_app::STAGING_SEED_VISITS)))
        .map_err(|e| format!("can't write {}: {e}", visits.display()))
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
