//! Durable state changes per second through the engine against the floor
//! the disk sets: a raw 256-byte append + fsync to a file in the same
//! directory, measured in the same run, in slices that take turns with the
//! engine's (to even out a disk whose speed drifts). The engine runs one
//! actor, then 8, 32 and 64 concurrent actors on threads; with several, one
//! flush covers every decision written before it (group commit), so the
//! ratio can pass 1.
//!
//! Each change is a lock or an unlock of the actor's own env (`dev-actorN`):
//! a real write (a lock record and an audit entry) that nobody else can
//! make refused.
//!
//! `cargo bench -p rushbox-pipeline --bench durability [-- [<dir>] [<count>]]`
//! (default: a temporary directory, 2,000 changes per row).

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use rushbox_command::EnvName;
use rushbox_pipeline::config::PipelineConfig;
use rushbox_pipeline::{Actor, Engine, FixedRefs, NoopProvider};

type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn per_sec(n: usize, took: Duration) -> f64 {
    n as f64 / took.as_secs_f64()
}

/// `count` 256-byte records written and synced one by one. Appending grows
/// the file, so each sync also commits its new size; overwriting one block
/// in place is the cheapest durable write there is.
fn raw(
    dir: &std::path::Path,
    name: &str,
    count: usize,
    append: bool,
    sync_all: bool,
) -> BenchResult<Duration> {
    use std::os::unix::fs::FileExt;
    let record = [b'x'; 256];
    let path = dir.join(name);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(&path)?;
    let start = Instant::now();
    for i in 0..count {
        let offset = if append { (i * record.len()) as u64 } else { 0 };
        file.write_all_at(&record, offset)?;
        if sync_all {
            file.sync_all()?;
        } else {
            file.sync_data()?;
        }
    }
    let took = start.elapsed();
    std::fs::remove_file(path)?;
    Ok(took)
}

/// `actors` threads lock and unlock their own env, `count` changes in all;
/// the time from the moment they all start to the last one's end.
fn engine_run(engine: &Engine, actors: usize, count: usize) -> BenchResult<(usize, Duration)> {
    // An even number each, so every actor ends with its env unlocked.
    let each = count.div_ceil(actors).next_multiple_of(2);
    let barrier = Arc::new(Barrier::new(actors + 1));
    let threads = (0..actors)
        .map(|i| {
            let engine = engine.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || -> BenchResult<()> {
                let me = Actor::parse(&format!("shell:actor{i}"))?;
                let env = EnvName::parse(&format!("dev-actor{i}"))?;
                barrier.wait();
                for n in 0..each {
                    if n % 2 == 0 {
                        engine.lock(&me, None, env.clone(), Some("bench".into()), None, false)?;
                    } else {
                        engine.unlock(&me, None, env.clone())?;
                    }
                }
                Ok(())
            })
        })
        .collect::<Vec<_>>();
    barrier.wait();
    let start = Instant::now();
    for thread in threads {
        thread.join().map_err(|_| "an actor thread panicked")??;
    }
    Ok((each * actors, start.elapsed()))
}

/// Rates measured in slices that take turns, so that a disk whose speed
/// drifts (other work on the machine) weighs on both sides alike.
const ROUNDS: usize = 4;

fn main() -> BenchResult<()> {
    // `cargo bench` passes `--bench`; skip flags. A number is the count,
    // anything else the directory.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let count: usize = args.iter().find_map(|a| a.parse().ok()).unwrap_or(2000);
    let tmp = match args.iter().find(|a| a.parse::<usize>().is_err()) {
        Some(dir) => tempfile::tempdir_in(dir)?,
        None => tempfile::tempdir()?,
    };
    let dir = tmp.path();

    // Let the disk settle (a build just wrote its artifacts) and warm up.
    // SAFETY: sync(2) takes no arguments and cannot fail.
    unsafe { libc::sync() };
    raw(dir, "warm-up", count / 4, true, true)?;

    // Per row: ROUNDS times a slice of raw append + fsync, then a slice of
    // engine changes; each row's ratio is of its own two sums.
    let slice = count.div_ceil(ROUNDS);
    let mut rows = Vec::new();
    for actors in [1, 8, 32, 64] {
        let engine = Engine::open(
            PipelineConfig::default(),
            &dir.join(format!("db-{actors}")),
            Arc::new(NoopProvider::new()),
            Arc::new(FixedRefs::default()),
        )?;
        let (mut raw_took, mut changes, mut engine_took) = (Duration::ZERO, 0, Duration::ZERO);
        for _ in 0..ROUNDS {
            raw_took += raw(dir, "append-all", slice, true, true)?;
            let (n, took) = engine_run(&engine, actors, slice)?;
            changes += n;
            engine_took += took;
        }
        rows.push((
            actors,
            per_sec(slice * ROUNDS, raw_took),
            per_sec(changes, engine_took),
        ));
    }
    let other_raw = [
        (
            "raw: 256 B append + fdatasync",
            raw(dir, "append-data", count, true, false)?,
        ),
        (
            "raw: 256 B overwrite in place + fdatasync",
            raw(dir, "overwrite", count, false, false)?,
        ),
    ];

    println!("{count} durable changes per row in {}", dir.display());
    println!(
        "{:<44} {:>12} {:>9} {:>10} {:>9}",
        "", "raw fsync/s", "per s", "ms each", "× raw"
    );
    for (actors, raw_rate, rate) in &rows {
        let what = match actors {
            1 => "engine: lock/unlock, 1 actor".to_owned(),
            n => format!("engine: lock/unlock, {n} concurrent actors"),
        };
        println!(
            "{what:<44} {raw_rate:>12.0} {rate:>9.0} {:>10.3} {:>9.2}",
            1000.0 / rate,
            rate / raw_rate
        );
    }
    for (what, took) in other_raw {
        let rate = per_sec(count, took);
        println!("{what:<44} {:>12} {rate:>9.0} {:>10.3}", "", 1000.0 / rate);
    }
    println!(
        "(raw fsync/s: 256 B append + fsync in the same directory, {ROUNDS} slices taking turns with the engine's; × raw = per s / raw fsync/s)"
    );
    Ok(())
}
