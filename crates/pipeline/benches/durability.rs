//! Durable state changes per second through the engine against the floor
//! the disk sets: a raw 256-byte append + fsync to a file in the same
//! directory, measured in the same run (before and after the engine, to
//! average out a noisy disk). The engine runs one actor, then 8, 32 and 64
//! concurrent actors on threads; with several, one flush covers every
//! decision written before it (group commit), so the ratio can pass 1.
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
fn engine_run(
    dir: &std::path::Path,
    actors: usize,
    count: usize,
) -> BenchResult<(usize, Duration)> {
    let engine = Engine::open(
        PipelineConfig::default(),
        &dir.join(format!("db-{actors}")),
        Arc::new(NoopProvider::new()),
        Arc::new(FixedRefs::default()),
    )?;
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

    // Raw and engine rows alternate; each engine row is compared with the
    // mean of the raw rows on either side of it, so a disk that speeds up
    // or slows down during the run skews the ratios as little as it can.
    let raw_rate =
        || -> BenchResult<f64> { Ok(per_sec(count, raw(dir, "append-all", count, true, true)?)) };
    let mut raws = vec![raw_rate()?];
    let mut engine_rows = Vec::new();
    for actors in [1, 8, 32, 64] {
        let (changes, took) = engine_run(dir, actors, count)?;
        raws.push(raw_rate()?);
        let floor = (raws[raws.len() - 2] + raws[raws.len() - 1]) / 2.0;
        engine_rows.push((actors, per_sec(changes, took), floor));
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
    let mean_raw = raws.iter().sum::<f64>() / raws.len() as f64;

    println!("{count} durable changes per row in {}", dir.display());
    println!("{:<52} {:>9} {:>10} {:>9}", "", "per s", "ms each", "× raw");
    let row = |what: &str, rate: f64, floor: f64| {
        println!(
            "{what:<52} {rate:>9.0} {:>10.3} {:>9.2}",
            1000.0 / rate,
            rate / floor
        );
    };
    let spread = raws
        .iter()
        .map(|r| format!("{r:.0}"))
        .collect::<Vec<_>>()
        .join(", ");
    row(
        &format!("raw: 256 B append + fsync (mean of {})", raws.len()),
        mean_raw,
        mean_raw,
    );
    for (what, took) in other_raw {
        row(what, per_sec(count, took), mean_raw);
    }
    for (actors, rate, floor) in &engine_rows {
        let what = match actors {
            1 => "engine: lock/unlock, 1 actor".to_owned(),
            n => format!("engine: lock/unlock, {n} concurrent actors"),
        };
        row(&what, *rate, *floor);
    }
    println!("raw append + fsync runs, in order: {spread} per s");
    println!("(× raw: an engine row against the mean of the raw runs just before and after it)");
    Ok(())
}
