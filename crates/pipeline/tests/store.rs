//! The store keeps what it was told: across a reopen, on disk before a call
//! returns, and through a crash that leaves operations running.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::*;
use rushbox_pipeline::engine::ManualClock;
use rushbox_pipeline::model::{
    Effect, Env, EnvKey, EnvState, Lock, OpKind, OpState, Operation, Queue, QueueEntry,
};
use rushbox_pipeline::store::{Store, StoreError};
use rushbox_pipeline::{Engine, EngineError, NoopProvider};

fn open(path: &Path, clock: Arc<ManualClock>) -> Result<Engine, EngineError> {
    Engine::open_with_clock(
        config(),
        path,
        Arc::new(NoopProvider::new()),
        Arc::new(refs()),
        clock,
    )
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn reopening_after_drop_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let clock = Arc::new(ManualClock::new(T0));
    let engine = open(&path, clock.clone()).unwrap();
    let (alice, bob) = (actor("alice"), actor("bob"));
    done(engine.deploy(&alice, None, git_ref("foo"), dev()));
    engine
        .lock(&alice, None, env("staging"), Some("qa".into()), None, false)
        .unwrap();
    engine.queue_join(&bob, None, env("staging"), None).unwrap();
    refused(engine.unlock(&bob, None, env("staging")));
    let state = engine.snapshot();
    let audit = engine.audit_log().unwrap();
    drop(engine);

    let engine = open(&path, clock).unwrap();
    assert_eq!(engine.snapshot(), state);
    // Everything before, plus nothing: a quiet start-up writes no entry.
    assert_eq!(engine.audit_log().unwrap(), audit);
    assert!(engine.interrupted().is_empty());
    assert_eq!(
        audit.len(),
        5,
        "deploy, finish, lock, queue, refused unlock"
    );
}

#[test]
fn a_decision_is_on_disk_before_the_call_returns() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let clock = Arc::new(ManualClock::new(T0));
    let engine = open(&path, clock.clone()).unwrap();
    engine
        .lock(
            &actor("alice"),
            None,
            env("staging"),
            Some("qa".into()),
            None,
            false,
        )
        .unwrap();
    // Copy the files while the engine still runs, as a crash would leave them.
    let copy = dir.path().join("copy");
    copy_dir(&path, &copy);
    let reopened = open(&copy, clock).unwrap();
    let lock = reopened
        .queue_status(None, &env("staging"))
        .unwrap()
        .lock
        .expect("the lock was flushed");
    assert_eq!(lock.holder, actor("alice"));
    drop(engine);
}

#[test]
fn a_second_rushbox_on_the_same_database_is_told_who_holds_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let clock = Arc::new(ManualClock::new(T0));
    let _first = open(&path, clock.clone()).unwrap();
    let Err(err) = open(&path, clock) else {
        panic!("two engines on one database")
    };
    assert!(matches!(err, EngineError::Store(StoreError::Locked { .. })));
    assert!(
        err.to_string()
            .contains("another rushbox holds the database lock at"),
        "{err}"
    );
}

#[test]
fn start_up_marks_what_a_crash_left_running_as_interrupted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let app = rushbox_pipeline::PipelineConfig::default().apps[0]
        .name
        .clone();
    let dev_foo = EnvKey::new(&app, &env("dev-foo"));
    let staging = EnvKey::new(&app, &env("staging"));
    {
        let store = Store::open(&path).unwrap();
        let op = Operation {
            id: 7,
            app: app.clone(),
            env: env("dev-foo"),
            kind: OpKind::Create,
            requested_by: actor("alice"),
            started_at: T0,
            finished_at: None,
            state: OpState::Running,
            requests: Vec::new(),
            steps: vec!["create dev-foo".into()],
            command: Some("deploy foo to dev".into()),
        };
        let env_record = Env {
            app: app.clone(),
            name: env("dev-foo"),
            state: EnvState::Creating,
            owner: Some(actor("alice")),
            branch: None,
            commit: None,
            release: None,
            previous_releases: Vec::new(),
            address: None,
            created_at: T0,
            last_activity: T0,
            expires_at: Some(T0 + 86400),
            expiry_warned: false,
            operation: Some(7),
        };
        let held = |who: &str, expires_at| Lock {
            holder: actor(who),
            reason: "qa".into(),
            since: T0,
            expires_at,
            claim_by: None,
        };
        let queue = Queue {
            waiting: vec![QueueEntry {
                actor: actor("bob"),
                git_ref: None,
                joined_at: T0,
            }],
        };
        store
            .commit(
                &[
                    Effect::PutOperation(op),
                    Effect::PutEnv(env_record),
                    Effect::PutLock(staging.clone(), held("alice", T0 + 3600)),
                    Effect::PutQueue(staging.clone(), queue),
                    Effect::PutLock(dev_foo.clone(), held("alice", T0 + 99 * 3600)),
                ],
                None,
            )
            .unwrap();
    }
    // rushbox comes back two hours later: staging's lease ran out, dev-foo's did not.
    let engine = open(&path, Arc::new(ManualClock::new(T0 + 7200))).unwrap();
    let interrupted = engine.interrupted();
    assert_eq!(interrupted.len(), 1);
    assert_eq!(interrupted[0].id, 7);
    assert_eq!(interrupted[0].state, OpState::Interrupted);
    assert_eq!(interrupted[0].requested_by, actor("alice"));
    let state = engine.snapshot();
    let foo = &state.envs[&dev_foo];
    assert_eq!((foo.state, foo.operation), (EnvState::Failed, None));
    assert_eq!(state.locks[&dev_foo].holder, actor("alice"), "kept");
    let passed = &state.locks[&staging];
    assert_eq!(passed.holder, actor("bob"));
    assert!(passed.claim_by.is_some());
    let log = engine.audit_log().unwrap();
    assert!(log.last().unwrap().call.contains("reconcile"));
    // dev-foo is usable again: alice's redeploy creates it afresh.
    done(engine.deploy(&actor("alice"), None, git_ref("foo"), dev()));
    let status = engine.status(None, &env("dev-foo")).unwrap();
    assert_eq!(status.last_operation.unwrap().kind, OpKind::Create);
    assert_eq!(status.view.owner, Some(actor("alice")));
    assert_eq!(status.view.state, EnvState::Running);
}

const CRASH_DIR_VAR: &str = "RUSHBOX_CRASH_MID_DEPLOY_DIR";

/// A provider on which deploying foo never ends: rushbox dies first.
struct FooNeverEnds;

impl rushbox_pipeline::provider::Provider for FooNeverEnds {
    fn name(&self) -> &str {
        "never-ends"
    }

    fn run(
        &self,
        request: &rushbox_pipeline::provider::Request,
        progress: &mut dyn FnMut(&str),
        _cancel: &rushbox_pipeline::provider::CancelToken,
    ) -> Result<rushbox_pipeline::provider::Outcome, rushbox_pipeline::provider::ProviderError>
    {
        progress(&format!("{} {} under way", request.action, request.env));
        if request
            .git_ref
            .as_ref()
            .is_some_and(|r| r.as_str() == "foo")
        {
            loop {
                std::thread::park();
            }
        }
        Ok(rushbox_pipeline::provider::Outcome::default())
    }
}

/// The child of `a_crash_mid_staging_deploy_tells_the_requester_they_still_hold_the_lock`:
/// staging runs main; alice deploys foo there, which takes the lock; once the
/// provider is at work it says so, and it runs until killed.
#[test]
fn crashing_mid_staging_deploy() {
    let Ok(dir) = std::env::var(CRASH_DIR_VAR) else {
        return;
    };
    let engine = Engine::open_with_clock(
        config(),
        Path::new(&dir),
        Arc::new(FooNeverEnds),
        Arc::new(refs()),
        Arc::new(ManualClock::new(T0)),
    )
    .unwrap();
    let lena = actor("lena");
    done(engine.deploy(&lena, None, git_ref("main"), to("staging")));
    engine.unlock(&lena, None, env("staging")).unwrap();
    let reply = engine
        .deploy(&actor("alice"), None, git_ref("foo"), to("staging"))
        .unwrap();
    let mut op = reply.operation().unwrap();
    while let Some(event) = op.events.blocking_recv() {
        if matches!(&event, rushbox_pipeline::Progress::Step(line) if line.contains("under way")) {
            println!("deploying");
        }
    }
}

/// rushbox is SIGKILLed while alice's deploy to staging runs. At the next
/// start the operation is interrupted, alice still holds the staging lock
/// (its lease has hours left), and she is told so, with the exact command
/// that tries again and the one that lets the lock go.
#[test]
fn a_crash_mid_staging_deploy_tells_the_requester_they_still_hold_the_lock() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "crashing_mid_staging_deploy",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CRASH_DIR_VAR, &db)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let deploying = stdout
        .lines()
        .any(|line| line.is_ok_and(|l| l.contains("deploying")));
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(deploying, "the child never got to deploying");

    // Back ten minutes later.
    let engine = open(&db, Arc::new(ManualClock::new(T0 + 600))).unwrap();
    assert_eq!(engine.interrupted().len(), 1);
    let lock = engine.queue_status(None, &env("staging")).unwrap().lock;
    assert_eq!(lock.map(|l| l.holder), Some(actor("alice")), "kept");
    let notices = engine.restart_notices();
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert_eq!(notices[0].to, actor("alice"));
    let text = &notices[0].text;
    for part in [
        "operation #2 (deploy of `staging`) was running; it was stopped.",
        "You still hold the staging lock",
        "lease ends in 3h 50m",
        "`deploy foo to staging` tries again",
        "`unlock staging` lets the next in line have it",
    ] {
        assert!(text.contains(part), "{part:?} in {text:?}");
    }
    // The command it names does try again, under the lock alice holds.
    assert!(matches!(
        done(engine.deploy(&actor("alice"), None, git_ref("foo"), to("staging"))),
        rushbox_pipeline::Progress::Finished { .. }
    ));
}
