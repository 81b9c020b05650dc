//! The env index: which envs a name means, in what state, and which run,
//! for the env router to read on every request without taking the engine's
//! lock. It is rebuilt under that lock whenever a decision changes an env's
//! existence, state or address (and built from the stored state at start-up),
//! and published as an immutable snapshot.
//!
//! Published as `RwLock<Arc<EnvIndex>>`: a reader takes the read lock only to
//! clone the `Arc` (two atomic operations, never waiting on a decision, its
//! write or its sync), and a writer holds the write lock only to swap the
//! pointer, after building the new index outside it. A lock-free `ArcSwap`
//! would save a reader one uncontended atomic at most, which is noise next to
//! an HTTP request on loopback; no crate is added for it.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use rushbox_command::{AppName, EnvName};

use crate::config::PipelineConfig;
use crate::model::{Effect, EnvState, State};

/// One env as the router sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedEnv {
    pub app: AppName,
    pub env: EnvName,
    pub state: EnvState,
}

/// A snapshot of every env by name. Lookups cost a hash of the name,
/// however many envs there are.
#[derive(Debug, Default)]
pub struct EnvIndex {
    /// Every app's env of that name, the default app's first.
    by_name: HashMap<String, Vec<IndexedEnv>>,
    /// Running envs' names and public addresses, in `envs` order.
    running: Vec<(String, String)>,
    envs: usize,
}

impl EnvIndex {
    /// The envs in `state`; `config` says which app is the default one.
    pub(super) fn of(state: &State, config: &PipelineConfig) -> EnvIndex {
        let default = config.app(None).map(|a| &a.name);
        let mut index = EnvIndex {
            envs: state.envs.len(),
            ..EnvIndex::default()
        };
        for env in state.envs.values() {
            let same_name = index
                .by_name
                .entry(env.name.as_str().to_owned())
                .or_default();
            let entry = IndexedEnv {
                app: env.app.clone(),
                env: env.name.clone(),
                state: env.state,
            };
            if Some(&env.app) == default {
                same_name.insert(0, entry);
            } else {
                same_name.push(entry);
            }
            if env.state == EnvState::Running {
                index.running.push((
                    env.name.to_string(),
                    env.address.clone().unwrap_or_default(),
                ));
            }
        }
        index
    }

    /// The env a host label names: the default app's env of that name,
    /// else the first other app's. Labels are matched as lowercase.
    pub fn find(&self, label: &str) -> Option<&IndexedEnv> {
        self.all_named(label).first()
    }

    /// Every app's env named `label`, the default app's first.
    pub fn all_named(&self, label: &str) -> &[IndexedEnv] {
        let found = if label.bytes().any(|b| b.is_ascii_uppercase()) {
            self.by_name.get(&label.to_ascii_lowercase())
        } else {
            self.by_name.get(label)
        };
        found.map_or(&[], Vec::as_slice)
    }

    /// Running envs' names and public addresses (empty when they have none).
    pub fn running(&self) -> &[(String, String)] {
        &self.running
    }

    /// How many envs there are, of every app and state.
    pub fn len(&self) -> usize {
        self.envs
    }

    pub fn is_empty(&self) -> bool {
        self.envs == 0
    }
}

/// The current index, as the engine publishes it.
pub(super) struct Published(RwLock<Arc<EnvIndex>>);

impl Published {
    pub(super) fn new(state: &State, config: &PipelineConfig) -> Published {
        Published(RwLock::new(Arc::new(EnvIndex::of(state, config))))
    }

    pub(super) fn current(&self) -> Arc<EnvIndex> {
        Arc::clone(&self.0.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Applies a decision's `effects` to `state` and, when any of them
    /// changed an env's existence, state or address, publishes a new index
    /// of the state they left. Decisions that change none of these (activity,
    /// locks, queues, releases) leave the snapshot as it is.
    pub(super) fn apply(&self, state: &mut State, effects: &[Effect], config: &PipelineConfig) {
        // Each effect is compared with the state before any of them: an
        // env whose final row differs from its first was changed by its
        // last effect, which then differs from the first row too.
        let moved = effects.iter().any(|effect| match effect {
            Effect::PutEnv(env) => state
                .envs
                .get(&env.key())
                .is_none_or(|old| old.state != env.state || old.address != env.address),
            Effect::RemoveEnv(key) => state.envs.contains_key(key),
            _ => false,
        });
        for effect in effects {
            state.apply(effect);
        }
        if moved {
            let index = Arc::new(EnvIndex::of(state, config));
            *self.0.write().unwrap_or_else(|p| p.into_inner()) = index;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::time::Duration;

    use rushbox_command::{GitRef, Target};

    use super::*;
    use crate::config::{AppConfig, RolesConfig};
    use crate::engine::Engine;
    use crate::model::Actor;
    use crate::{FixedRefs, NoopProvider};

    fn engine(dir: &std::path::Path, config: PipelineConfig) -> Engine {
        Engine::open(
            config,
            &dir.join("db"),
            Arc::new(NoopProvider::new()),
            Arc::new(FixedRefs::new([
                ("main", "1111111111111111111111111111111111111111"),
                ("foo", "f00f00f00f00f00f00f00f00f00f00f00f00f00f"),
            ])),
        )
        .expect("the engine opens")
    }

    fn config() -> PipelineConfig {
        PipelineConfig {
            roles: RolesConfig {
                leads: vec!["shell:lena".to_owned()],
                developers: vec!["shell:alice".to_owned()],
            },
            ..PipelineConfig::default()
        }
    }

    fn alice() -> Actor {
        Actor::parse("shell:alice").expect("an actor")
    }

    fn name(env: &str) -> EnvName {
        EnvName::parse(env).expect("an env name")
    }

    fn state_of(engine: &Engine, env: &str) -> Option<EnvState> {
        engine.env_index().find(env).map(|e| e.state)
    }

    fn deploy_foo(engine: &Engine) {
        let reply = engine
            .deploy(
                &alice(),
                None,
                GitRef::parse("foo").expect("a ref"),
                Target::Dev,
            )
            .expect("the deploy is granted");
        assert!(reply.operation().is_some());
    }

    #[test]
    fn follows_deploy_suspend_wake_and_destroy() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let engine = engine(dir.path(), config());
        assert!(engine.env_index().is_empty());
        assert_eq!(state_of(&engine, "dev-foo"), None);

        deploy_foo(&engine);
        assert_eq!(state_of(&engine, "dev-foo"), Some(EnvState::Running));
        let index = engine.env_index();
        assert_eq!(index.len(), 1);
        assert_eq!(index.running().len(), 1);
        assert_eq!(index.running()[0].0, "dev-foo");
        assert_eq!(
            index.running()[0].1,
            engine.list_envs(None, None)[0]
                .address
                .clone()
                .unwrap_or_default()
        );
        assert_eq!(
            index.find("DEV-FOO").map(|e| &e.env),
            Some(&name("dev-foo"))
        );

        engine
            .suspend(&alice(), None, name("dev-foo"))
            .expect("suspended");
        assert_eq!(state_of(&engine, "dev-foo"), Some(EnvState::Suspended));
        assert!(engine.env_index().running().is_empty());
        // A snapshot taken before stays as it was: readers see one state whole.
        assert_eq!(
            index.find("dev-foo").map(|e| e.state),
            Some(EnvState::Running)
        );

        engine.wake(&alice(), None, name("dev-foo")).expect("woken");
        assert_eq!(state_of(&engine, "dev-foo"), Some(EnvState::Running));

        engine
            .destroy(&alice(), None, name("dev-foo"))
            .expect("destroyed");
        assert_eq!(state_of(&engine, "dev-foo"), None);
        assert!(engine.env_index().is_empty());
        assert!(engine.env_index().running().is_empty());
    }

    #[test]
    fn activity_leaves_the_snapshot_alone_and_restart_rebuilds_it() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        {
            let engine = engine(dir.path(), config());
            deploy_foo(&engine);
            let before = engine.env_index();
            engine
                .record_activity(None, name("dev-foo"))
                .expect("activity recorded");
            assert!(Arc::ptr_eq(&before, &engine.env_index()));
            engine
                .suspend(&alice(), None, name("dev-foo"))
                .expect("suspended");
            assert!(!Arc::ptr_eq(&before, &engine.env_index()));
        }
        let engine = engine(dir.path(), config());
        assert_eq!(state_of(&engine, "dev-foo"), Some(EnvState::Suspended));
    }

    #[test]
    fn the_default_app_comes_first() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let app = |n: &str| AppConfig {
            name: AppName::parse(n).expect("an app name"),
            ..AppConfig::default()
        };
        let config = PipelineConfig {
            apps: vec![app("zeta"), app("alpha")],
            ..config()
        };
        let engine = engine(dir.path(), config);
        for a in ["alpha", "zeta"] {
            engine
                .deploy(
                    &alice(),
                    Some(AppName::parse(a).expect("an app name")),
                    GitRef::parse("foo").expect("a ref"),
                    Target::Dev,
                )
                .expect("the deploy is granted");
        }
        let index = engine.env_index();
        let apps: Vec<&str> = index
            .all_named("dev-foo")
            .iter()
            .map(|e| e.app.as_str())
            .collect();
        assert_eq!(apps, ["zeta", "alpha"]);
        assert_eq!(index.running().len(), 2);
    }

    #[test]
    fn lookups_do_not_wait_for_the_engine_lock() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let engine = engine(dir.path(), config());
        deploy_foo(&engine);
        let (tx, rx) = mpsc::channel();
        let core = engine.inner.core();
        let reader = engine.clone();
        let looking = std::thread::spawn(move || {
            let _ = tx.send(reader.env_index().find("dev-foo").map(|e| e.state));
        });
        // The deadline only bounds a failure; a lookup that waited for the
        // lock would never answer while `core` is held.
        let answer = rx.recv_timeout(Duration::from_secs(30));
        drop(core);
        assert_eq!(answer, Ok(Some(EnvState::Running)));
        looking.join().expect("the reader ends");
    }
}
