//! What the env router asks, answered from the engine (which envs exist and
//! in what state) and the local provider (where a running env listens).
//! Wakes go through the engine, so state, audit and idle times stay true.
//!
//! Every request looks its env up in the engine's env index, a snapshot
//! read without the engine's lock: one hash of the name, however many envs
//! there are, and never a wait for a decision being made or synced.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rushbox_command::{AppName, EnvName};
use rushbox_pipeline::model::EnvState;
use rushbox_pipeline::provider::local::LocalProvider;
use rushbox_pipeline::{Engine, Progress};
use rushbox_router::{Backends, Lookup};

/// Activity is written at most this often per env; requests in between only count in memory.
const TOUCH_EVERY: Duration = Duration::from_secs(30);

/// Where running envs' processes listen, and how to start one that is
/// recorded as running but is not up: the `local` provider in rushbox (a
/// bench or a test may answer from a table).
pub trait Addresses: Send + Sync + 'static {
    /// Where the env's process listens; `None` when it is not running.
    fn backend(&self, app: &AppName, env: &EnvName) -> Option<SocketAddr>;
    /// Start the env's process and return once it is healthy.
    fn wake_blocking(&self, app: &AppName, env: &EnvName) -> Result<SocketAddr, String>;
}

impl Addresses for LocalProvider {
    fn backend(&self, app: &AppName, env: &EnvName) -> Option<SocketAddr> {
        LocalProvider::backend(self, app, env)
    }

    fn wake_blocking(&self, app: &AppName, env: &EnvName) -> Result<SocketAddr, String> {
        LocalProvider::wake_blocking(self, app, env)
    }
}

pub struct EnvBackends {
    engine: Engine,
    addresses: Arc<dyn Addresses>,
    touched: Mutex<HashMap<String, Instant>>,
    /// Activity marks for the writer thread: recording one syncs the store,
    /// which must not happen on the router's async workers. `None` once dropped.
    marks: Option<mpsc::Sender<(AppName, EnvName)>>,
    writer: Option<JoinHandle<()>>,
}

impl EnvBackends {
    pub fn new(engine: Engine, addresses: Arc<dyn Addresses>) -> EnvBackends {
        let (marks, to_write) = mpsc::channel::<(AppName, EnvName)>();
        let writing = engine.clone();
        let writer = std::thread::Builder::new()
            .name("rushbox-activity".to_owned())
            .spawn(move || {
                // Ends when the EnvBackends is dropped (the sender with it).
                for (app, env) in to_write {
                    // Losing one activity mark only brings an idle suspend a little early.
                    let _ = writing.record_activity(Some(app), env);
                }
            });
        // Without a thread of its own (the system refused one), activity is
        // written by the caller, as a slower but working fallback.
        let (marks, writer) = match writer {
            Ok(writer) => (Some(marks), Some(writer)),
            Err(_) => (None, None),
        };
        EnvBackends {
            engine,
            addresses,
            touched: Mutex::new(HashMap::new()),
            marks,
            writer,
        }
    }

    /// The env a host label names, with its app and state: the default
    /// app's env of that name first, else any app's.
    fn find(&self, label: &str) -> Option<(AppName, EnvName, EnvState)> {
        let index = self.engine.env_index();
        index
            .find(label)
            .map(|e| (e.app.clone(), e.env.clone(), e.state))
    }
}

impl Drop for EnvBackends {
    fn drop(&mut self) {
        // The writer drains what was marked, then ends; after that no clone
        // of the engine is left here, and its store can close.
        drop(self.marks.take());
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

impl Backends for EnvBackends {
    fn lookup(&self, env: &str) -> Lookup {
        let index = self.engine.env_index();
        match index.find(env) {
            Some(found) if found.state == EnvState::Running => {
                match self.addresses.backend(&found.app, &found.env) {
                    Some(addr) => Lookup::Running(addr),
                    // Recorded as running but its process is not up (rushbox restarted): start it.
                    None => Lookup::Suspended,
                }
            }
            Some(found) if found.state == EnvState::Suspended => Lookup::Suspended,
            _ => Lookup::Unknown,
        }
    }

    fn wake(&self, env: &str) -> Result<SocketAddr, String> {
        let Some((app, env, state)) = self.find(env) else {
            return Err(format!("there is no env `{env}`"));
        };
        if state == EnvState::Suspended {
            let reply = self
                .engine
                .wake_on_request(Some(app.clone()), env.clone())
                .map_err(|e| e.to_string())?;
            if let Some(operation) = reply.operation()
                && let Progress::Failed { error } = operation.wait()
            {
                return Err(error);
            }
        }
        match self.addresses.backend(&app, &env) {
            Some(addr) => Ok(addr),
            None => self.addresses.wake_blocking(&app, &env),
        }
    }

    /// Called on the router's async workers: counts in memory, and hands the
    /// write (at most one per env per [`TOUCH_EVERY`]) to the writer thread.
    fn touch(&self, env: &str) {
        let now = Instant::now();
        {
            let mut touched = self.touched.lock().unwrap_or_else(|p| p.into_inner());
            match touched.get_mut(env) {
                Some(last) if now.duration_since(*last) < TOUCH_EVERY => return,
                Some(last) => *last = now,
                None => {
                    touched.insert(env.to_owned(), now);
                }
            }
        }
        let Some((app, env, _)) = self.find(env) else {
            return;
        };
        let unsent = match &self.marks {
            Some(marks) => marks.send((app, env)).err().map(|e| e.0),
            None => Some((app, env)),
        };
        if let Some((app, env)) = unsent {
            let _ = self.engine.record_activity(Some(app), env);
        }
    }

    fn running(&self) -> Vec<(String, String)> {
        self.engine.env_index().running().to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use rushbox_command::{GitRef, Target};
    use rushbox_pipeline::config::{LimitsConfig, RolesConfig};
    use rushbox_pipeline::engine::ManualClock;
    use rushbox_pipeline::{Actor, FixedRefs, NoopProvider, PipelineConfig};

    /// Every running env listens at one address.
    struct At(SocketAddr);

    impl Addresses for At {
        fn backend(&self, _app: &AppName, _env: &EnvName) -> Option<SocketAddr> {
            Some(self.0)
        }
        fn wake_blocking(&self, _app: &AppName, _env: &EnvName) -> Result<SocketAddr, String> {
            Ok(self.0)
        }
    }

    fn engine(dir: &std::path::Path) -> Engine {
        engine_with(dir, Arc::new(ManualClock::new(1_800_000_000)))
    }

    fn engine_with(dir: &std::path::Path, clock: Arc<ManualClock>) -> Engine {
        let config = PipelineConfig {
            roles: RolesConfig {
                leads: vec!["shell:lena".to_owned()],
                developers: vec![],
            },
            limits: LimitsConfig {
                dev_envs_per_person: 100,
                dev_envs_total: 100,
            },
            ..PipelineConfig::default()
        };
        Engine::open_with_clock(
            config,
            &dir.join("db"),
            Arc::new(NoopProvider::new()),
            Arc::new(FixedRefs::new([(
                "main",
                "1111111111111111111111111111111111111111",
            )])),
            clock,
        )
        .expect("the engine opens")
    }

    fn lena() -> Actor {
        Actor::parse("shell:lena").expect("an actor")
    }

    fn staging() -> EnvName {
        EnvName::parse("staging").expect("an env name")
    }

    fn deploy_main_to_staging(engine: &Engine) {
        engine
            .deploy(
                &lena(),
                None,
                GitRef::parse("main").expect("a ref"),
                Target::Env(staging()),
            )
            .expect("deployed");
    }

    #[test]
    fn lookups_follow_the_engine() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let engine = engine(dir.path());
        let addr = SocketAddr::from(([127, 0, 0, 1], 9));
        let backends = EnvBackends::new(engine.clone(), Arc::new(At(addr)));
        assert_eq!(backends.lookup("staging"), Lookup::Unknown);
        deploy_main_to_staging(&engine);
        assert_eq!(backends.lookup("staging"), Lookup::Running(addr));
        assert_eq!(backends.running().len(), 1);
        assert_eq!(backends.running()[0].0, "staging");
        engine.suspend(&lena(), None, staging()).expect("suspended");
        assert_eq!(backends.lookup("staging"), Lookup::Suspended);
        assert!(backends.running().is_empty());
        assert_eq!(backends.wake("staging"), Ok(addr));
        assert_eq!(backends.lookup("staging"), Lookup::Running(addr));
        assert_eq!(backends.lookup("prod"), Lookup::Unknown);
        assert!(backends.wake("prod").is_err());
    }

    #[test]
    fn touches_are_written_by_the_writer_thread_once_per_period() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let clock = Arc::new(ManualClock::new(1_800_000_000));
        let engine = engine_with(dir.path(), clock.clone());
        deploy_main_to_staging(&engine);
        clock.advance(600);
        let idle = |engine: &Engine| engine.list_envs(None, None)[0].idle_for;
        assert_eq!(idle(&engine), 600);
        let backends = EnvBackends::new(
            engine.clone(),
            Arc::new(At(SocketAddr::from(([127, 0, 0, 1], 9)))),
        );
        for _ in 0..100 {
            backends.touch("staging");
        }
        backends.touch("no-such-env");
        // Dropping joins the writer, once it has written what was marked.
        drop(backends);
        assert_eq!(idle(&engine), 0);
    }
}
