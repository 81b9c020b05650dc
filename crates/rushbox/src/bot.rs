//! The bot's wiring, shared by the shell and `rushbox serve`: the engine
//! the config describes (provider, git repositories, store, and the clean-up
//! of what a crashed run left), the Robot over it, and with the `local`
//! provider its envs started again and the router serving them.

use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use rushbox_chat::Robot;
use rushbox_pipeline::git::{GitRepo, GitResolver};
use rushbox_pipeline::model::EnvState;
use rushbox_pipeline::process::GroupLedger;
use rushbox_pipeline::provider::Provider;
use rushbox_pipeline::provider::local::LocalProvider;
use rushbox_pipeline::provider::script::ScriptProvider;
use rushbox_pipeline::{Engine, NoopProvider};
use rushbox_router::{RouterConfig, serve};

use crate::backends::EnvBackends;
use crate::config::{Config, ProviderKind};

/// How often timed rules (lease expiry, idle suspend, TTL) are checked.
pub const TICK: Duration = Duration::from_secs(5);

/// What `open_engine` sets up.
pub struct Opened {
    pub engine: Engine,
    /// Process groups a crashed run left behind, now stopped.
    pub reaped: usize,
    /// The local provider, when config chose it: the router and `logs` need it.
    pub local: Option<Arc<LocalProvider>>,
}

/// Opens the engine the config describes: provider, git repositories,
/// store. Then stops process groups a crashed run left behind (only once the
/// store's lock is ours, so never another live rushbox's: nothing before
/// `Engine::open` touches a process); says how many.
pub fn open_engine(config: &Config) -> Result<Opened, String> {
    let groups = config.store.with_file_name("groups");
    let ledger = Arc::new(
        GroupLedger::open(&groups)
            .map_err(|e| format!("can't create {}: {e}", groups.display()))?,
    );
    let mut local = None;
    let provider: Arc<dyn Provider> = match config.provider.kind {
        ProviderKind::Noop => Arc::new(NoopProvider::new()),
        ProviderKind::Script => match &config.provider.script {
            Some(script) => {
                Arc::new(ScriptProvider::new(script.clone()).with_ledger(ledger.clone()))
            }
            None => {
                return Err("the script provider has no `[provider.script]` commands".to_owned());
            }
        },
        ProviderKind::Local => match &config.provider.local {
            Some(settings) => {
                let repos = config
                    .pipeline
                    .apps
                    .iter()
                    .map(|a| (a.name.clone(), a.repo.clone()))
                    .collect();
                let provider = Arc::new(
                    LocalProvider::new(settings.clone(), repos)
                        .map_err(|e| format!("the local provider's config: {e}"))?,
                );
                local = Some(provider.clone());
                provider
            }
            None => return Err("the local provider has no `[provider.local]` settings".to_owned()),
        },
    };
    let mut resolver = GitResolver::new();
    for app in &config.pipeline.apps {
        let repo = GitRepo::open(&app.repo)
            .map_err(|e| format!("app `{}`: {e} (set `repo` in the config)", app.name))?;
        resolver.insert(app.name.clone(), repo.with_name(app.name.to_string()));
    }
    if let Some(parent) = config.store.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| format!("can't create {}: {e}", parent.display()))?;
    }
    let engine = Engine::open(
        config.pipeline.clone(),
        &config.store,
        provider,
        Arc::new(resolver),
    )
    .map_err(|e| {
        format!(
            "can't open the state store at {}: {e}",
            config.store.display()
        )
    })?;
    // The store's lock is ours from here on. Only script actions use this
    // ledger; the local provider keeps its own under its root.
    let grace = config
        .provider
        .script
        .as_ref()
        .map_or(Duration::from_secs(5), |script| script.kill_grace());
    let mut reaped = ledger.reap(grace).len();
    if let Some(local) = &local {
        reaped += local.stop_leftovers();
    }
    Ok(Opened {
        engine,
        reaped,
        local,
    })
}

/// The env router on its own thread and runtime, until `stop` is sent.
struct RouterThread {
    stop: tokio::sync::oneshot::Sender<()>,
    thread: JoinHandle<()>,
}

/// Binds the router's address now, so a taken port is an error at start-up.
fn start_router(
    config: &Config,
    engine: &Engine,
    local: Arc<LocalProvider>,
) -> Result<RouterThread, String> {
    let listen = config.router.listen;
    let listener = std::net::TcpListener::bind(listen)
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
        .map_err(|e| format!("the router can't listen on {listen}: {e} (set `[router] listen`)"))?;
    let router_config = RouterConfig {
        listen,
        domain: config.router.domain.clone(),
        wake_timeout: Duration::from_secs(config.router.wake_timeout_secs),
    };
    let backends: Arc<dyn rushbox_router::Backends> =
        Arc::new(EnvBackends::new(engine.clone(), local));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("can't start the router's runtime: {e}"))?;
    let thread = thread::spawn(move || {
        runtime.block_on(async move {
            let listener = match tokio::net::TcpListener::from_std(listener) {
                Ok(listener) => listener,
                Err(e) => return eprintln!("rushbox: the router stopped: {e}"),
            };
            let shutdown = async {
                let _ = stopped.await;
            };
            if let Err(e) = serve(listener, router_config, backends, shutdown).await {
                eprintln!("rushbox: the router stopped: {e}");
            }
        });
    });
    Ok(RouterThread { stop, thread })
}

/// The bot, up: engine, Robot, and with the local provider its envs restored
/// and the router serving them. Shared by the shell and `rushbox serve`.
pub struct Bot {
    pub robot: Robot,
    /// Process groups a crashed run left behind, stopped at start.
    pub reaped: usize,
    router: Option<RouterThread>,
    local: Option<Arc<LocalProvider>>,
}

impl Bot {
    pub fn start(config: &Config) -> Result<Bot, String> {
        let Opened {
            engine,
            reaped,
            local,
        } = open_engine(config)?;
        let mut robot = Robot::new(engine.clone());
        if config.provider.kind == ProviderKind::Noop {
            robot = robot.dry_run();
        }
        let mut router = None;
        if let Some(local) = &local {
            // Envs that were running before are running again; suspended ones stay so.
            let envs: Vec<_> = engine
                .list_envs(None, None)
                .into_iter()
                .filter(|v| matches!(v.state, EnvState::Running | EnvState::Suspended))
                .map(|v| (v.app, v.env, v.state == EnvState::Running))
                .collect();
            for (app, env, result) in local.restore(&envs) {
                if let Err(why) = result {
                    eprintln!("rushbox: {app}/{env} could not be started again: {why}");
                }
            }
            router = Some(start_router(config, &engine, local.clone())?);
            let logs = local.clone();
            robot = robot.with_logs(Arc::new(move |app, env, lines| {
                logs.logs_tail(app, env, lines)
            }));
        }
        Ok(Bot {
            robot,
            reaped,
            router,
            local,
        })
    }

    pub fn has_router(&self) -> bool {
        self.router.is_some()
    }

    /// Stops the router, then every env's process (they are rushbox's children).
    pub fn stop(self) {
        if let Some(router) = self.router {
            let _ = router.stop.send(());
            let _ = router.thread.join();
        }
        if let Some(local) = &self.local {
            local.shutdown();
        }
    }
}
