//! How long an env takes to be ready, with the demo's sample app and the
//! `local` provider: from the deploy request to a healthy env, cold (the
//! build runs for a new commit) and warm (the artifact exists: a second env
//! on the same commit, as in a promotion), and wake latency (a suspended env
//! started again until healthy). Run with `cargo bench -p rushbox --bench envs`.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use rushbox_command::{AppName, EnvName, GitRef};
use rushbox_pipeline::provider::local::{LocalConfig, LocalProvider};
use rushbox_pipeline::provider::{Action, CancelToken, Provider, Request};

const COLD: usize = 5;
const WARM: usize = 10;
const WAKES: usize = 40;

fn main() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let app_dir = dir.path().join("app");
    rushbox::demo_app::make_app(&app_dir).expect("the demo app repository");
    let app = AppName::parse("demo").expect("a valid app name");
    let config: LocalConfig = serde_json::from_value(serde_json::json!({
        "root": dir.path().join("envs"),
        "apps": { "demo": { "build": ["sh", "build.sh"], "run": ["./demo-app"], "health": "/health" } }
    }))
    .expect("a valid local config");
    let provider = LocalProvider::new(config, BTreeMap::from([(app.clone(), app_dir.clone())]))
        .expect("the local provider");

    let mut cold = Vec::new();
    let mut commit = String::new();
    for i in 0..COLD {
        commit = new_commit(&app_dir, i);
        let env = EnvName::parse(&format!("dev-cold{i}")).expect("env name");
        cold.push(deploy(&provider, &app, &env, &commit, i));
    }
    let mut warm = Vec::new();
    for i in 0..WARM {
        let env = EnvName::parse(&format!("dev-warm{i}")).expect("env name");
        warm.push(deploy(&provider, &app, &env, &commit, COLD));
    }
    let env = EnvName::parse("dev-warm0").expect("env name");
    let mut wakes = Vec::new();
    for _ in 0..WAKES {
        run(&provider, request(Action::Suspend, &app, &env, None, None));
        let start = Instant::now();
        provider.wake_blocking(&app, &env).expect("the env wakes");
        wakes.push(start.elapsed());
    }
    provider.shutdown();

    println!("demo app, local provider; {} builds ran", provider.builds());
    println!(
        "{:<44}{:>10}{:>10}{:>10}",
        "", "p50 ms", "p99 ms", "samples"
    );
    for (what, samples) in [
        ("deploy → healthy, cold (builds)", &mut cold),
        ("deploy → healthy, warm (artifact exists)", &mut warm),
        ("wake → healthy", &mut wakes),
    ] {
        samples.sort();
        println!(
            "{what:<44}{:>10.1}{:>10.1}{:>10}",
            ms(percentile(samples, 50)),
            ms(percentile(samples, 99)),
            samples.len()
        );
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    let index = (sorted.len() * p).div_ceil(100).saturating_sub(1);
    sorted.get(index).copied().unwrap_or_default()
}

/// A new commit on main (its page note changes), so the next deploy must build.
fn new_commit(app: &Path, i: usize) -> String {
    let main = app.join("src/main.rs");
    let text = std::fs::read_to_string(&main).expect("the app's source");
    std::fs::write(&main, format!("{text}\n// revision {i}\n")).expect("the app's source");
    rushbox::demo_app::git(app, &["commit", "-q", "-am", &format!("revision {i}")])
        .expect("a commit");
    let out = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(app)
        .output()
        .expect("git rev-parse");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn request(
    action: Action,
    app: &AppName,
    env: &EnvName,
    commit: Option<&str>,
    release: Option<usize>,
) -> Request {
    Request {
        action,
        app: app.clone(),
        env: env.clone(),
        git_ref: GitRef::parse("main").ok(),
        commit: commit.map(str::to_owned),
        release: release.map(|r| format!("r{}", r + 1)),
        source_env: None,
    }
}

fn run(provider: &LocalProvider, request: Request) {
    if let Err(e) = provider.run(&request, &mut |_| {}, &CancelToken::new()) {
        panic!("{} {}: {e}", request.action, request.env);
    }
}

/// Create + deploy, timed from the first request to the healthy answer.
fn deploy(
    provider: &LocalProvider,
    app: &AppName,
    env: &EnvName,
    commit: &str,
    release: usize,
) -> Duration {
    let start = Instant::now();
    run(provider, request(Action::Create, app, env, None, None));
    run(
        provider,
        request(Action::Deploy, app, env, Some(commit), Some(release)),
    );
    start.elapsed()
}
