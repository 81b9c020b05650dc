//! Durable state changes per second through the engine (one sled
//! transaction + flush each) against the floor the disk sets: a raw
//! 256-byte write + fsync to a file in the same directory.
//!
//! `cargo bench -p rushbox-pipeline --bench durability [-- [<dir>] [<count>]]`
//! (default: a temporary directory, 2,000 changes).

use std::sync::Arc;
use std::time::{Duration, Instant};

use rushbox_command::EnvName;
use rushbox_pipeline::config::PipelineConfig;
use rushbox_pipeline::{Actor, Engine, FixedRefs, NoopProvider};

fn per_sec(n: usize, took: Duration) -> f64 {
    n as f64 / took.as_secs_f64()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
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

    let engine = Engine::open(
        PipelineConfig::default(),
        &tmp.path().join("db"),
        Arc::new(NoopProvider::new()),
        Arc::new(FixedRefs::default()),
    )?;
    let alice = Actor::parse("shell:alice")?;
    let staging = EnvName::staging();
    let start = Instant::now();
    for i in 0..count {
        if i % 2 == 0 {
            engine.lock(
                &alice,
                None,
                staging.clone(),
                Some("bench".into()),
                None,
                false,
            )?;
        } else {
            engine.unlock(&alice, None, staging.clone())?;
        }
    }
    let engine_took = start.elapsed();
    drop(engine);

    let record = [b'x'; 256];
    // Appending grows the file, so each sync also commits its new size;
    // overwriting one block in place is the cheapest durable write there is.
    let raw = |name: &str, append: bool, sync_all: bool| -> std::io::Result<Duration> {
        use std::os::unix::fs::FileExt;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(tmp.path().join(name))?;
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
        Ok(start.elapsed())
    };
    let rows = [
        (
            "engine: lock/unlock (sled transaction + flush + fdatasync)",
            engine_took,
        ),
        (
            "raw: 256 B append + fdatasync",
            raw("append-data", true, false)?,
        ),
        ("raw: 256 B append + fsync", raw("append-all", true, true)?),
        (
            "raw: 256 B overwrite in place + fdatasync",
            raw("overwrite", false, false)?,
        ),
    ];
    println!("{count} durable changes in {}", tmp.path().display());
    for (what, took) in rows {
        println!(
            "{what:<60} {:>8.0}/s {:>8.3} ms each",
            per_sec(count, took),
            took.as_secs_f64() * 1000.0 / count as f64
        );
    }
    Ok(())
}
