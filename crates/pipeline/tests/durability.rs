//! A writer acknowledges each state change on stdout only after the engine
//! returned; it is SIGKILLed mid-run; every acknowledged change is there
//! when the database is reopened.
//!
//! The writer is this same test binary, re-run with `RUSHBOX_DURABILITY_DIR`
//! set, so no separate program has to be built or found.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;

use common::*;
use rushbox_pipeline::{Actor, Engine, NoopProvider};

const DIR_VAR: &str = "RUSHBOX_DURABILITY_DIR";
const ACKS: usize = 1000;

fn person(i: usize) -> Actor {
    Actor::parse(&format!("shell:person{i:05}")).unwrap()
}

fn everyone_develops() -> rushbox_pipeline::PipelineConfig {
    let mut config = config();
    config.roles.developers = vec!["*".to_owned()];
    config
}

/// The writer: lena holds staging, then people join its queue one by one,
/// each join acknowledged once `queue_join` has returned. It never stops
/// by itself; the test kills it.
#[test]
fn durability_writer() {
    let Ok(dir) = std::env::var(DIR_VAR) else {
        return; // only runs as the child of `acknowledged_changes_survive_sigkill`
    };
    let engine = Engine::open(
        everyone_develops(),
        std::path::Path::new(&dir),
        Arc::new(NoopProvider::new()),
        Arc::new(refs()),
    )
    .unwrap();
    engine
        .lock(
            &actor("lena"),
            None,
            env("staging"),
            Some("durability".into()),
            None,
            false,
        )
        .unwrap();
    let mut out = std::io::stdout().lock();
    for i in 0.. {
        engine
            .queue_join(&person(i), None, env("staging"), None)
            .unwrap();
        writeln!(out, "ack {i}").unwrap();
        out.flush().unwrap();
    }
}

#[test]
fn acknowledged_changes_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "durability_writer",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(DIR_VAR, &db)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut acked = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(n) = line.strip_prefix("ack ") {
            let n: usize = n.parse().unwrap();
            acked = Some(n);
            if n + 1 >= ACKS {
                break;
            }
        }
    }
    // SIGKILL: no destructors, no final flush.
    child.kill().unwrap();
    child.wait().unwrap();
    let acked = acked.expect("the writer acknowledged something") + 1;
    assert!(acked >= ACKS);

    let engine = Engine::open(
        everyone_develops(),
        &db,
        Arc::new(NoopProvider::new()),
        Arc::new(refs()),
    )
    .unwrap();
    let queue = engine.queue_status(None, &env("staging")).unwrap();
    assert_eq!(queue.lock.unwrap().holder, actor("lena"));
    assert!(
        queue.waiting.len() >= acked,
        "{} < {acked}",
        queue.waiting.len()
    );
    for (i, who) in queue.waiting.iter().take(acked).enumerate() {
        assert_eq!(
            who,
            &person(i),
            "acknowledged join {i} lost or out of order"
        );
    }
}
