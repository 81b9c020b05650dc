//! What the env router asks, answered from the engine (which envs exist and
//! in what state) and the local provider (where a running env listens).
//! Wakes go through the engine, so state, audit and idle times stay true.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rushbox_command::{AppName, EnvName};
use rushbox_pipeline::model::EnvState;
use rushbox_pipeline::provider::local::LocalProvider;
use rushbox_pipeline::{Engine, Progress};
use rushbox_router::{Backends, Lookup};

/// Activity is written at most this often per env; requests in between only count in memory.
const TOUCH_EVERY: Duration = Duration::from_secs(30);

pub struct EnvBackends {
    engine: Engine,
    local: Arc<LocalProvider>,
    touched: Mutex<HashMap<String, Instant>>,
}

impl EnvBackends {
    pub fn new(engine: Engine, local: Arc<LocalProvider>) -> EnvBackends {
        EnvBackends {
            engine,
            local,
            touched: Mutex::new(HashMap::new()),
        }
    }

    /// The env a host label names, with its app and state: the default
    /// app's env of that name first, else any app's.
    fn find(&self, label: &str) -> Option<(AppName, EnvName, EnvState)> {
        let env = EnvName::parse(label).ok()?;
        let default = self.engine.config().app(None).map(|a| a.name.clone());
        let mut views: Vec<_> = self
            .engine
            .list_envs(None, None)
            .into_iter()
            .filter(|v| v.env == env)
            .collect();
        views.sort_by_key(|v| Some(&v.app) != default.as_ref());
        views.into_iter().next().map(|v| (v.app, v.env, v.state))
    }
}

impl Backends for EnvBackends {
    fn lookup(&self, env: &str) -> Lookup {
        match self.find(env) {
            Some((app, env, EnvState::Running)) => match self.local.backend(&app, &env) {
                Some(addr) => Lookup::Running(addr),
                // Recorded as running but its process is not up (rushbox restarted): start it.
                None => Lookup::Suspended,
            },
            Some((_, _, EnvState::Suspended)) => Lookup::Suspended,
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
        match self.local.backend(&app, &env) {
            Some(addr) => Ok(addr),
            None => self.local.wake_blocking(&app, &env),
        }
    }

    fn touch(&self, env: &str) {
        let now = Instant::now();
        {
            let mut touched = self.touched.lock().unwrap_or_else(|p| p.into_inner());
            match touched.get(env) {
                Some(last) if now.duration_since(*last) < TOUCH_EVERY => return,
                _ => {
                    touched.insert(env.to_owned(), now);
                }
            }
        }
        if let Some((app, env, _)) = self.find(env) {
            // Losing one activity mark only brings an idle suspend a little early.
            let _ = self.engine.record_activity(Some(app), env);
        }
    }

    fn running(&self) -> Vec<(String, String)> {
        self.engine
            .list_envs(None, None)
            .into_iter()
            .filter(|v| v.state == EnvState::Running)
            .map(|v| (v.env.to_string(), v.address.unwrap_or_default()))
            .collect()
    }
}
