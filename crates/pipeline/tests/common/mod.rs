//! A small world for engine tests: alice and bob (developers), carol
//! (developer), lena (lead), mallory (no role), a manual clock, a noop or
//! gated provider, and a fixed set of branches.
#![allow(dead_code)]

use std::sync::{Arc, Condvar, Mutex};

use rushbox_command::{EnvName, GitRef, Target};
use rushbox_pipeline::config::{PipelineConfig, RolesConfig};
use rushbox_pipeline::engine::ManualClock;
use rushbox_pipeline::provider::{CancelToken, Outcome, Provider, ProviderError, Request};
use rushbox_pipeline::{Actor, Blocker, Engine, EngineError, FixedRefs, NoopProvider, Progress};

pub const T0: u64 = 1_800_000_000;

pub fn actor(name: &str) -> Actor {
    Actor::parse(&format!("shell:{name}")).unwrap()
}

pub fn env(name: &str) -> EnvName {
    EnvName::from_user(name).unwrap()
}

pub fn git_ref(name: &str) -> GitRef {
    GitRef::parse(name).unwrap()
}

pub fn dev() -> Target {
    Target::Dev
}

pub fn to(name: &str) -> Target {
    Target::Env(env(name))
}

pub fn config() -> PipelineConfig {
    PipelineConfig {
        roles: RolesConfig {
            leads: vec!["shell:lena".to_owned()],
            developers: vec![
                "shell:alice".to_owned(),
                "shell:bob".to_owned(),
                "shell:carol".to_owned(),
            ],
        },
        ..PipelineConfig::default()
    }
}

pub fn refs() -> FixedRefs {
    FixedRefs::new([
        ("main", "1111111111111111111111111111111111111111"),
        ("foo", "f00f00f00f00f00f00f00f00f00f00f00f00f00f"),
        ("bar", "baabaabaabaabaabaabaabaabaabaabaabaabaab"),
        ("baz", "ba2ba2ba2ba2ba2ba2ba2ba2ba2ba2ba2ba2ba2b"),
        ("hotfix", "4040404040404040404040404040404040404040"),
    ])
}

/// A provider that holds every request until the test opens the gate, and
/// stops when cancelled. For "env busy" and cancel conversations.
#[derive(Default)]
pub struct GateProvider {
    open: Mutex<bool>,
    changed: Condvar,
    pub seen: Mutex<Vec<Request>>,
}

impl GateProvider {
    pub fn open(&self) {
        *self.open.lock().unwrap() = true;
        self.changed.notify_all();
    }
}

impl Provider for GateProvider {
    fn name(&self) -> &str {
        "gate"
    }

    fn run(
        &self,
        request: &Request,
        progress: &mut dyn FnMut(&str),
        cancel: &CancelToken,
    ) -> Result<Outcome, ProviderError> {
        self.seen.lock().unwrap().push(request.clone());
        progress("waiting at the gate");
        let mut open = self.open.lock().unwrap();
        while !*open {
            if cancel.is_cancelled() {
                return Err(ProviderError::Cancelled);
            }
            open = self
                .changed
                .wait_timeout(open, std::time::Duration::from_millis(5))
                .unwrap()
                .0;
        }
        Ok(Outcome {
            address: Some(format!("http://{}.localhost:8080", request.env)),
        })
    }
}

pub struct World {
    pub engine: Engine,
    pub clock: Arc<ManualClock>,
    pub noop: Arc<NoopProvider>,
    pub dir: tempfile::TempDir,
}

pub fn world() -> World {
    world_with(config())
}

pub fn world_with(config: PipelineConfig) -> World {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let noop = Arc::new(NoopProvider::new());
    let engine = Engine::open_with_clock(
        config,
        &dir.path().join("db"),
        noop.clone(),
        Arc::new(refs()),
        clock.clone(),
    )
    .unwrap();
    World {
        engine,
        clock,
        noop,
        dir,
    }
}

pub fn gated_world() -> (World, Arc<GateProvider>) {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let gate = Arc::new(GateProvider::default());
    let engine = Engine::open_with_clock(
        config(),
        &dir.path().join("db"),
        gate.clone(),
        Arc::new(refs()),
        clock.clone(),
    )
    .unwrap();
    let world = World {
        engine,
        clock,
        noop: Arc::new(NoopProvider::new()),
        dir,
    };
    (world, gate)
}

/// Runs a granted call's operation to its end.
pub fn done(reply: Result<rushbox_pipeline::Reply, EngineError>) -> Progress {
    let reply = reply.unwrap_or_else(|e| panic!("refused: {e}"));
    match reply.operation() {
        Some(op) => op.wait(),
        None => panic!("no operation started"),
    }
}

/// The blockers of a refusal; panics when the call was granted.
pub fn refused<T: std::fmt::Debug>(result: Result<T, EngineError>) -> Vec<Blocker> {
    match result {
        Ok(v) => panic!("expected a refusal, got {v:?}"),
        Err(e) => e.blockers().to_vec(),
    }
}

/// Runs real git in `dir` with no user or system config, so the machine's
/// settings (signing, hooks, default branch) can't change what a test builds.
pub fn git(dir: &std::path::Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=Test", "-c", "user.email=test@example.com"])
        .args(args)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}
