//! Fifty people try for staging at the same moment, twenty times each:
//! one holds it, everyone else is queued once or told who holds it, and
//! every attempt is in the audit log, in the order it was decided.

mod common;

use std::sync::{Arc, Barrier};

use common::*;
use rushbox_pipeline::model::AuditOutcome;
use rushbox_pipeline::{Actor, Blocker, EngineError};

const PEOPLE: usize = 50;
const TRIES: usize = 20;

/// Granted, or refused with these blockers.
type Attempt = Result<(), Vec<Blocker>>;

/// xorshift64*: enough randomness to vary who locks and who queues, per seed.
fn next(state: &mut u64) -> u64 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    state.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

fn race(seed: u64) {
    let w = world_with(everyone_develops());
    let engine = w.engine.clone();
    let barrier = Arc::new(Barrier::new(PEOPLE));
    let threads: Vec<_> = (0..PEOPLE)
        .map(|i| {
            let engine = engine.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let me = Actor::parse(&format!("slack:T1:U{i:02}")).unwrap();
                let mut rng = seed.wrapping_add(i as u64 * 7919) | 1;
                barrier.wait();
                let mut outcomes = Vec::new();
                for _ in 0..TRIES {
                    let result = if next(&mut rng).is_multiple_of(2) {
                        engine.lock(
                            &me,
                            None,
                            env("staging"),
                            Some("load test".into()),
                            None,
                            false,
                        )
                    } else {
                        engine.queue_join(&me, None, env("staging"), None)
                    };
                    outcomes.push(match result {
                        Ok(_) => Ok(()),
                        Err(EngineError::Refused(r)) => Err(r.blockers),
                        Err(e) => panic!("store failure under load: {e}"),
                    });
                }
                (me, outcomes)
            })
        })
        .collect();
    let results: Vec<(Actor, Vec<Attempt>)> =
        threads.into_iter().map(|t| t.join().unwrap()).collect();

    let queue = engine.queue_status(None, &env("staging")).unwrap();
    let holder = queue.lock.expect("someone holds staging").holder;
    // Exactly one holder, who does not also wait.
    assert!(!queue.waiting.contains(&holder));
    let mut waiting = queue.waiting.clone();
    waiting.sort();
    waiting.dedup();
    assert_eq!(waiting.len(), queue.waiting.len(), "nobody waits twice");
    for (me, outcomes) in &results {
        assert_eq!(outcomes.len(), TRIES, "every attempt was answered");
        if me == &holder {
            continue;
        }
        let queued = queue.waiting.contains(me);
        let granted = outcomes.iter().filter(|o| o.is_ok()).count();
        // Someone who is not the holder got at most one thing: a place in line.
        assert_eq!(granted, usize::from(queued), "{me}: {outcomes:?}");
        for blockers in outcomes.iter().filter_map(|o| o.as_ref().err()) {
            let told = blockers.iter().any(|b| match b {
                Blocker::LockedBy { holder: h, .. } | Blocker::LockOffered { to: h, .. } => {
                    h == &holder
                }
                Blocker::AlreadyQueued { .. } => queued,
                _ => false,
            });
            assert!(told, "{me} was not told who holds staging: {blockers:?}");
        }
    }
    // Nothing lost: one audit entry per attempt, and the queue is the order
    // in which joins were granted.
    let log = engine.audit_log().unwrap();
    assert_eq!(log.len(), PEOPLE * TRIES);
    let seqs: Vec<u64> = log.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=(PEOPLE * TRIES) as u64).collect::<Vec<_>>());
    let granted_joins: Vec<Actor> = log
        .iter()
        .filter(|e| {
            e.call.starts_with("queue me") && matches!(e.outcome, AuditOutcome::Done { .. })
        })
        .map(|e| e.actor.clone())
        .filter(|a| a != &holder)
        .collect();
    assert_eq!(granted_joins, queue.waiting);
    // And it all survives a reopen (on the system clock, which is before
    // the test clock's T0, so no lease runs out meanwhile).
    let state = engine.snapshot();
    drop(engine);
    let path = w.dir.path().join("db");
    drop(w.engine);
    let reopened = rushbox_pipeline::Engine::open(
        everyone_develops(),
        &path,
        Arc::new(rushbox_pipeline::NoopProvider::new()),
        Arc::new(refs()),
    )
    .unwrap();
    assert_eq!(reopened.snapshot().locks, state.locks);
    assert_eq!(reopened.snapshot().queues, state.queues);
}

/// `*` in the developers list: anyone may lock and queue.
fn everyone_develops() -> rushbox_pipeline::PipelineConfig {
    let mut config = config();
    config.roles.developers = vec!["*".to_owned()];
    config
}

#[test]
fn fifty_people_race_for_staging() {
    for seed in [1, 42, 0xdead_beef, 2026] {
        race(seed);
    }
}
