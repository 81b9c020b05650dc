//! The store's unit tests: the log's record format and framing, replay,
//! checkpoints, group commit and poisoning, reaching into private state.

use std::io::Write as _;

use rushbox_command::{AppName, EnvName};

use super::wal::*;
use super::*;
use crate::model::{Actor, AuditOutcome};

fn staging() -> EnvKey {
    EnvKey::new(
        &AppName::parse("web").unwrap(),
        &EnvName::parse("staging").unwrap(),
    )
}

fn lock_by(who: &str) -> Lock {
    Lock {
        holder: Actor::parse(&format!("shell:{who}")).unwrap(),
        reason: "qa".into(),
        since: 1,
        expires_at: 2,
        claim_by: None,
    }
}

fn entry(call: &str) -> AuditEntry {
    AuditEntry {
        seq: 0,
        at: 1,
        actor: Actor::parse("shell:alice").unwrap(),
        app: None,
        env: None,
        call: call.into(),
        outcome: AuditOutcome::Done {
            message: String::new(),
        },
        delivery: None,
    }
}

#[test]
fn a_journal_record_reads_back_as_written() {
    let writes = vec![
        Write {
            tree: LOCKS,
            key: b"web/staging".to_vec(),
            value: Some(b"{\"x\":1}".to_vec()),
        },
        Write {
            tree: QUEUES,
            key: b"web/staging".to_vec(),
            value: None,
        },
        Write {
            tree: AUDIT,
            key: 7u64.to_be_bytes().to_vec(),
            value: Some(Vec::new()),
        },
    ];
    let record = encode_journal(&writes).unwrap();
    assert_eq!(decode_journal(&record).unwrap(), writes);
    assert_eq!(encode_journal(&[]).unwrap(), [JOURNAL_V1, 0, 0, 0, 0]);
    assert_eq!(
        decode_journal(&[JOURNAL_V1, 0, 0, 0, 0]).unwrap(),
        Vec::new()
    );
    for cut in 0..record.len() {
        assert!(decode_journal(&record[..cut]).is_err(), "cut at {cut}");
    }
    let mut longer = record.clone();
    longer.push(0);
    assert!(decode_journal(&longer).is_err());
    let mut other_format = record;
    other_format[0] = 9;
    assert!(decode_journal(&other_format).is_err());
}

/// A store written before the write-ahead log, by a run that crashed
/// after a decision's journal record reached sled's log but before all of
/// its writes did: opening the store completes the decision.
#[test]
fn opening_replays_a_decision_cut_short() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    {
        let store = Store::open(&path).unwrap();
        store
            .commit(
                &[Effect::PutLock(staging(), lock_by("alice"))],
                Some(entry("lock staging")),
            )
            .unwrap();
        // The next decision, as far as the crash let it get: the journal
        // record, and none of its writes.
        let mut writes = vec![store.write_of(&Effect::RemoveLock(staging())).unwrap()];
        let mut audit = entry("unlock staging");
        audit.seq = 2;
        writes.push(Write {
            tree: AUDIT,
            key: 2u64.to_be_bytes().to_vec(),
            value: Some(store.encode(&audit).unwrap()),
        });
        store.trees[JOURNAL]
            .insert(JOURNAL_KEY, encode_journal(&writes).unwrap())
            .unwrap();
        store.db.flush().unwrap();
        assert!(store.load().unwrap().locks.contains_key(&staging()));
    }
    // Stores from before the write-ahead log had none: this one is such a store.
    std::fs::remove_file(path.join(WAL_FILE)).unwrap();
    let store = Store::open(&path).unwrap();
    assert!(
        store.load().unwrap().locks.is_empty(),
        "the unlock was replayed"
    );
    assert_eq!(store.audit_len(), 2);
    let calls: Vec<String> = store
        .audit(|_| true, 10)
        .unwrap()
        .into_iter()
        .map(|e| e.call)
        .collect();
    assert_eq!(calls, ["lock staging", "unlock staging"]);
    // Replaying again (another restart) changes nothing.
    drop(store);
    let store = Store::open(&path).unwrap();
    assert!(store.load().unwrap().locks.is_empty());
    assert_eq!(store.audit_len(), 2);
}

/// A crash after a decision reached the write-ahead log but before it
/// reached sled, with a torn frame after it: opening applies the whole
/// record and ignores the torn one, then empties the log.
#[test]
fn opening_replays_the_log_up_to_a_torn_frame() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    {
        let store = Store::open(&path).unwrap();
        store
            .commit(
                &[Effect::PutLock(staging(), lock_by("alice"))],
                Some(entry("lock staging")),
            )
            .unwrap();
        // Written to the log's file by a sync that dies before its
        // fdatasync: never synced or applied, nobody answered.
        let _unanswered = store
            .write(
                &[Effect::RemoveLock(staging())],
                Some(entry("unlock staging")),
            )
            .unwrap();
        store.write_frames_without_sync();
        assert!(
            store.load().unwrap().locks.contains_key(&staging()),
            "not in sled yet"
        );
    }
    let wal = path.join(WAL_FILE);
    let mut torn = frame(b"\x01\x00\x00\x00\x01garbage").unwrap();
    torn.truncate(torn.len() - 3);
    std::fs::OpenOptions::new()
        .append(true)
        .open(&wal)
        .unwrap()
        .write_all(&torn)
        .unwrap();

    let store = Store::open(&path).unwrap();
    assert!(
        store.load().unwrap().locks.is_empty(),
        "the whole record was replayed"
    );
    let calls: Vec<String> = store
        .audit(|_| true, 10)
        .unwrap()
        .into_iter()
        .map(|e| e.call)
        .collect();
    assert_eq!(calls, ["lock staging", "unlock staging"]);
    assert_eq!(
        std::fs::metadata(&wal).unwrap().len(),
        0,
        "the log is folded into sled and emptied"
    );
}

#[test]
fn frames_stop_at_the_first_corrupt_one() {
    let mut log = frame(b"one").unwrap();
    log.extend(frame(b"two").unwrap());
    let mut bad = frame(b"three").unwrap();
    let last = bad.len() - 1;
    bad[last] ^= 0xff;
    log.extend(bad);
    log.extend(frame(b"four").unwrap());
    assert_eq!(frames(&log), [b"one".as_slice(), b"two".as_slice()]);
}

#[test]
fn a_checkpoint_empties_the_log_and_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let store = Store::open(&path).unwrap();
    let mut count = 0;
    while store.wal_len.load(Ordering::SeqCst) < CHECKPOINT_BYTES {
        let mut big = entry(&"x".repeat(64 * 1024));
        big.call.push_str(&count.to_string());
        let _synced_below = store.write(&[], Some(big)).unwrap();
        count += 1;
    }
    let last = store.write(&[], Some(entry("last"))).unwrap();
    store.sync(last).unwrap();
    assert_eq!(store.wal_len.load(Ordering::SeqCst), 0);
    assert_eq!(std::fs::metadata(path.join(WAL_FILE)).unwrap().len(), 0);
    assert_eq!(store.audit_len(), count + 1);
    drop(store);
    let store = Store::open(&path).unwrap();
    assert_eq!(store.audit_len(), count + 1);
}

#[test]
fn one_flush_covers_every_decision_written_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("db")).unwrap();
    let first = store.write(&[], Some(entry("a"))).unwrap();
    let second = store.write(&[], Some(entry("b"))).unwrap();
    store.sync(second).unwrap();
    assert!(lock(&store.durable).through >= first.ticket);
    // Covered already: returns without flushing again.
    store.sync(first).unwrap();
    assert_eq!((first.seq, second.seq), (Some(1), Some(2)));
}

#[test]
fn a_failed_flush_refuses_everything_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("db")).unwrap();
    let written = store.write(&[], Some(entry("a"))).unwrap();
    let error = store.poison("disk on fire");
    assert!(matches!(error, StoreError::Poisoned { .. }));
    assert!(
        error
            .to_string()
            .starts_with("storage error, nothing more will be accepted until restart"),
        "{error}"
    );
    assert!(store.sync(written).is_err());
    assert!(store.write(&[], Some(entry("b"))).is_err());
    assert!(
        store
            .check_poisoned()
            .unwrap_err()
            .to_string()
            .contains("disk on fire")
    );
}

const GROUP_DIR_VAR: &str = "RUSHBOX_GROUP_COMMIT_DIR";
const WRITERS: usize = 8;
const GROUP_ACKS: usize = 400;

fn person(writer: usize, i: usize) -> Actor {
    Actor::parse(&format!("shell:w{writer}p{i:05}")).unwrap()
}

/// Group commit, in every run: eight writers each append a decision, meet,
/// then each sync theirs, for `ROUNDS` rounds. Once all of a round's records
/// are appended the first sync covers them all, so there is one log sync per
/// round, not one per write; every acknowledged decision is there after
/// reopening. With `RUSHBOX_GROUP_COMMIT_DIR` set it is instead the child of
/// `acknowledged_concurrent_changes_survive_sigkill` (see
/// `sigkill_child_writer`).
#[test]
fn group_commit_writer() {
    if let Ok(dir) = std::env::var(GROUP_DIR_VAR) {
        return sigkill_child_writer(Path::new(&dir));
    }
    const ROUNDS: usize = 25;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let store = std::sync::Arc::new(Store::open(&path).unwrap());
    let meet = std::sync::Arc::new(std::sync::Barrier::new(WRITERS));
    let threads: Vec<_> = (0..WRITERS)
        .map(|w| {
            let store = store.clone();
            let meet = meet.clone();
            std::thread::spawn(move || {
                for round in 0..ROUNDS {
                    let written = store
                        .write(&[], Some(entry(&format!("w{w} r{round}"))))
                        .unwrap();
                    meet.wait();
                    store.sync(written).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let writes = (WRITERS * ROUNDS) as u64;
    assert_eq!(store.audit_len(), writes);
    assert_eq!(
        store.wal_syncs(),
        ROUNDS as u64,
        "one log sync per round of {WRITERS} writes"
    );
    drop(store);
    let store = Store::open(&path).unwrap();
    let mut calls: Vec<String> = store
        .audit(|_| true, usize::MAX)
        .unwrap()
        .into_iter()
        .map(|e| e.call)
        .collect();
    calls.sort();
    let mut expected: Vec<String> = (0..WRITERS)
        .flat_map(|w| (0..ROUNDS).map(move |r| format!("w{w} r{r}")))
        .collect();
    expected.sort();
    assert_eq!(
        calls, expected,
        "every acknowledged decision survives a reopen"
    );
}

/// The child of `acknowledged_concurrent_changes_survive_sigkill`: lena
/// holds staging, and eight threads each queue people one by one,
/// acknowledging each join once the engine has returned. Runs until killed.
fn sigkill_child_writer(dir: &Path) {
    let engine = crate::Engine::open(
        crate::PipelineConfig::default(),
        dir,
        std::sync::Arc::new(crate::NoopProvider::new()),
        std::sync::Arc::new(crate::FixedRefs::default()),
    )
    .unwrap();
    let lena = Actor::parse("shell:lena").unwrap();
    let staging = EnvName::parse("staging").unwrap();
    engine
        .lock(
            &lena,
            None,
            staging.clone(),
            Some("durability".into()),
            None,
            false,
        )
        .unwrap();
    let threads: Vec<_> = (0..WRITERS)
        .map(|w| {
            let engine = engine.clone();
            let staging = staging.clone();
            std::thread::spawn(move || {
                for i in 0.. {
                    engine
                        .queue_join(&person(w, i), None, staging.clone(), None)
                        .unwrap();
                    let mut out = std::io::stdout().lock();
                    std::io::Write::write_all(&mut out, format!("ack {w} {i}\n").as_bytes())
                        .unwrap();
                    std::io::Write::flush(&mut out).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

/// Group commit loses nothing: every join acknowledged to any of eight
/// concurrent writers is there after a SIGKILL, in each writer's order.
#[test]
fn acknowledged_concurrent_changes_survive_sigkill() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "store::tests::group_commit_writer",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(GROUP_DIR_VAR, &db)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut acked = [0usize; WRITERS];
    let mut total = 0;
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line.unwrap();
        // The first ack shares its line with the harness's "test … ".
        let Some((_, rest)) = line.split_once("ack ") else {
            continue;
        };
        let (w, i) = rest.split_once(' ').unwrap();
        let (w, i): (usize, usize) = (w.parse().unwrap(), i.parse().unwrap());
        assert_eq!(acked[w], i, "writer {w} acknowledges in order");
        acked[w] = i + 1;
        total += 1;
        if total >= GROUP_ACKS {
            break;
        }
    }
    // SIGKILL: no destructors, no final flush.
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(total >= GROUP_ACKS, "the writer stopped early");

    let store = Store::open(&db).unwrap();
    let state = store.load().unwrap();
    let queue = state.queues.values().next().expect("the queue was stored");
    for (w, &n) in acked.iter().enumerate() {
        let mine: Vec<&Actor> = queue
            .waiting
            .iter()
            .map(|e| &e.actor)
            .filter(|a| a.as_str().starts_with(&format!("shell:w{w}p")))
            .collect();
        assert!(
            mine.len() >= n,
            "writer {w}: {} of {n} acknowledged joins kept",
            mine.len()
        );
        for (i, who) in mine.iter().take(n).enumerate() {
            assert_eq!(
                *who,
                &person(w, i),
                "writer {w}: join {i} lost or out of order"
            );
        }
    }
}
