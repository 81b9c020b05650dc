//! One call's latency through the engine, durable as always, against the
//! disk's floor measured in the same run (one 256-byte append + fdatasync
//! in the same directory): a deploy of a branch that does not exist
//! (refused, its audit entry synced) and a deploy with the `noop`
//! provider (decided, its operation run to its end, synced, answered).
//! Refs are resolved in a real git repository made for the run.
//!
//! `cargo bench -p rushbox-pipeline --bench latency [-- <count>]`
//! (default 2,000 calls of each kind). Prints the median and the 99th
//! percentile of each, and each median over the floor's.

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rushbox_command::{AppName, GitRef, Target};
use rushbox_pipeline::config::{AppConfig, PipelineConfig};
use rushbox_pipeline::git::{GitRepo, GitResolver};
use rushbox_pipeline::{Actor, Engine, NoopProvider};

type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn git(dir: &std::path::Path, args: &[&str]) -> BenchResult<()> {
    let status = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=bench",
            "-c",
            "user.email=bench@example.invalid",
        ])
        .args(args)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .status()?;
    if !status.success() {
        return Err(format!("git {args:?} failed").into());
    }
    Ok(())
}

/// Median and 99th percentile.
fn spread(mut took: Vec<Duration>) -> (Duration, Duration) {
    took.sort();
    let at = |q: f64| took[((took.len() - 1) as f64 * q) as usize];
    (at(0.5), at(0.99))
}

fn floor(dir: &std::path::Path, count: usize) -> BenchResult<Vec<Duration>> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("floor"))?;
    let record = [b'x'; 256];
    let mut took = Vec::with_capacity(count);
    for _ in 0..count {
        let start = Instant::now();
        file.write_all(&record)?;
        file.sync_data()?;
        took.push(start.elapsed());
    }
    Ok(took)
}

fn main() -> BenchResult<()> {
    let count: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(2000);
    let tmp = tempfile::tempdir()?;
    let repo = tmp.path().join("app");
    std::fs::create_dir_all(&repo)?;
    git(&repo, &["init", "-q", "-b", "main"])?;
    git(&repo, &["commit", "-q", "--allow-empty", "-m", "init"])?;
    let app = AppName::parse("app")?;
    let mut resolver = GitResolver::new();
    resolver.insert(app.clone(), GitRepo::open(&repo)?);
    let config = PipelineConfig {
        apps: vec![AppConfig {
            name: app,
            repo: repo.clone(),
        }],
        ..PipelineConfig::default()
    };
    let engine = Engine::open(
        config,
        &tmp.path().join("db"),
        Arc::new(NoopProvider::new()),
        Arc::new(resolver),
    )?;
    let me = Actor::parse("shell:bench")?;
    let unknown = GitRef::parse("feature/not-pushed")?;
    let main_ref = GitRef::parse("main")?;

    // Warm up both paths and the disk.
    let _ = engine.deploy(&me, None, unknown.clone(), Target::Dev);
    let _ = engine.deploy(&me, None, main_ref.clone(), Target::Dev)?;
    floor(tmp.path(), count / 10)?;

    let (mut floors, mut refused, mut deployed) = (Vec::new(), Vec::new(), Vec::new());
    // In slices that take turns, so a disk whose speed drifts weighs on all alike.
    let slice = count.div_ceil(4);
    for _ in 0..4 {
        floors.extend(floor(tmp.path(), slice)?);
        for _ in 0..slice {
            let start = Instant::now();
            let answer = engine.deploy(&me, None, unknown.clone(), Target::Dev);
            refused.push(start.elapsed());
            if answer.is_ok() {
                return Err("a branch that does not exist was deployed".into());
            }
        }
        for _ in 0..slice {
            let start = Instant::now();
            let reply = engine.deploy(&me, None, main_ref.clone(), Target::Dev)?;
            // Answered: its operation has already ended (noop runs in the call).
            let ended = reply.operation().map(|op| op.wait());
            deployed.push(start.elapsed());
            if !matches!(ended, Some(rushbox_pipeline::Progress::Finished { .. })) {
                return Err(format!("the noop deploy did not finish: {ended:?}").into());
            }
        }
    }
    let (floor_p50, floor_p99) = spread(floors);
    println!(
        "disk floor (256-byte append + fdatasync): median {:>7.1} us, p99 {:>7.1} us",
        floor_p50.as_secs_f64() * 1e6,
        floor_p99.as_secs_f64() * 1e6
    );
    for (what, took) in [
        ("deploy of an unknown branch (refused, synced)", refused),
        ("noop deploy (decided, run, synced, answered)", deployed),
    ] {
        let (p50, p99) = spread(took);
        println!(
            "{what}: median {:>7.1} us, p99 {:>7.1} us, median = {:.2}x the floor",
            p50.as_secs_f64() * 1e6,
            p99.as_secs_f64() * 1e6,
            p50.as_secs_f64() / floor_p50.as_secs_f64()
        );
    }
    println!("syncs: {} for {} calls", engine.syncs(), 2 * slice * 4 + 2);
    Ok(())
}
