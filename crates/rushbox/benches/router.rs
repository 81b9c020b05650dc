//! The env router in front of a real engine, side by side with direct and
//! nginx in one run: rushbox's own `EnvBackends` (the backends.rs the binary
//! uses, included here) answering `rushbox_router::serve` from an `Engine`
//! whose state holds one running env, then also 100, then 1,000 suspended
//! ones. 32 keep-alive clients; an app that answers at once and one that
//! takes 1 ms; requests/s, p50 and p99, and ratios to direct, per state.
//!
//! `cargo bench -p rushbox --bench router` (about 70 s). nginx runs when it is
//! on the PATH (Debian's `nginx-light`); without it the bench says so.
//!
//! The engine is real (its store, policy and env index) and so is every
//! decision that seeds it, with the `noop` provider, which runs operations
//! within the call: seeding 1,000 envs through the `local` provider would
//! start and stop 1,000 processes. Where a running env listens comes from a
//! table built like the local provider's (a lock and a map keyed by owned
//! names), since the app here is the bench's, not a process it started.

#[path = "../src/backends.rs"]
#[allow(dead_code, unused_imports)]
mod backends;
#[path = "../../router/benches/harness/mod.rs"]
mod harness;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use backends::{Addresses, EnvBackends};
use harness::{CLIENTS, Figures, Nginx, Router, Timing, load, ratio, row};
use rushbox_command::{AppName, EnvName, GitRef, Target};
use rushbox_pipeline::config::{LimitsConfig, RolesConfig};
use rushbox_pipeline::{Actor, Engine, FixedRefs, NoopProvider, PipelineConfig};

const TIMING: Timing = Timing {
    warm_up: Duration::from_millis(300),
    measure: Duration::from_millis(1500),
};
const ROUNDS: usize = 2;
/// Suspended envs in the state besides the running one, state after state.
const SUSPENDED: [usize; 3] = [0, 100, 1000];
const COMMIT: &str = "1111111111111111111111111111111111111111";
const HOST: &str = "staging.localhost";

/// Where running envs listen, built like the local provider's table: a
/// lock, and a map keyed by owned names (cloned for each lookup, as there).
#[derive(Default)]
struct Table {
    at: Mutex<HashMap<(AppName, EnvName), SocketAddr>>,
    lookups: AtomicU64,
}

impl Table {
    fn set(&self, app: &AppName, env: &EnvName, addr: SocketAddr) {
        let mut at = self.at.lock().unwrap_or_else(PoisonError::into_inner);
        at.insert((app.clone(), env.clone()), addr);
    }
}

impl Addresses for Table {
    fn backend(&self, app: &AppName, env: &EnvName) -> Option<SocketAddr> {
        self.lookups.fetch_add(1, Ordering::Relaxed);
        let at = self.at.lock().unwrap_or_else(PoisonError::into_inner);
        at.get(&(app.clone(), env.clone())).copied()
    }

    fn wake_blocking(&self, app: &AppName, env: &EnvName) -> Result<SocketAddr, String> {
        self.backend(app, env)
            .ok_or_else(|| "the bench starts no processes".to_owned())
    }
}

fn bench() -> Actor {
    Actor::parse("shell:bench").expect("an actor")
}

fn open_engine(dir: &std::path::Path) -> Engine {
    let branches: Vec<String> = (0..SUSPENDED[SUSPENDED.len() - 1])
        .map(|i| format!("s{i}"))
        .collect();
    let refs = FixedRefs::new(
        std::iter::once("main")
            .chain(branches.iter().map(String::as_str))
            .map(|branch| (branch, COMMIT)),
    );
    let config = PipelineConfig {
        roles: RolesConfig {
            leads: vec![bench().to_string()],
            developers: vec![],
        },
        limits: LimitsConfig {
            dev_envs_per_person: 10_000,
            dev_envs_total: 10_000,
        },
        ..PipelineConfig::default()
    };
    Engine::open(
        config,
        &dir.join("db"),
        Arc::new(NoopProvider::new()),
        Arc::new(refs),
    )
    .expect("the engine opens")
}

/// Dev envs `from..to` deployed and then suspended, through the engine,
/// under one hold (one sync for all of them).
fn seed(engine: &Engine, from: usize, to: usize) {
    let hold = engine.hold();
    for i in from..to {
        let branch = GitRef::parse(&format!("s{i}")).expect("a ref");
        let reply = engine
            .deploy(&bench(), None, branch, Target::Dev)
            .expect("a dev env deployed");
        let env = reply
            .operation()
            .map(|op| op.env.clone())
            .expect("the deploy's operation");
        engine
            .suspend(&bench(), None, env)
            .expect("the dev env suspended");
    }
    hold.release().expect("the seeding is synced");
}

struct Result3 {
    direct: Vec<Figures>,
    router: Vec<Figures>,
    nginx: Vec<Figures>,
}

fn main() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let engine = open_engine(dir.path());
    let staging = EnvName::parse("staging").expect("an env name");
    engine
        .deploy(
            &bench(),
            None,
            GitRef::parse("main").expect("a ref"),
            Target::Env(staging.clone()),
        )
        .expect("staging deployed");
    let app_name = engine
        .config()
        .app(None)
        .map(|a| a.name.clone())
        .expect("the default app");
    let table = Arc::new(Table::default());
    let backends = Arc::new(EnvBackends::new(engine.clone(), table.clone()));

    // The clients, the apps and the router each get a runtime of their
    // own, as they would be separate processes (and nginx is).
    let clients = harness::runtime();
    let apps = harness::runtime();
    let routers = harness::runtime();
    let kinds = [
        ("instant app", Duration::ZERO),
        ("1 ms app", Duration::from_millis(1)),
    ];
    let mut results: Vec<(usize, &str, Result3)> = Vec::new();
    clients.block_on(async {
        let router = Router::start(&routers, backends).await;
        let mut started = Vec::new();
        for (label, work) in kinds {
            let app = apps
                .spawn(harness::start_app(work))
                .await
                .expect("the app starts");
            started.push((label, app, Nginx::start(app)));
        }
        let nginx = started.iter().all(|(_, _, nginx)| nginx.is_some());
        println!(
            "{CLIENTS} keep-alive clients, {:.1} s each after {:.1} s warm-up, {ROUNDS} rounds, {} cores; {}",
            TIMING.measure.as_secs_f64(),
            TIMING.warm_up.as_secs_f64(),
            harness::cores(),
            if nginx {
                "nginx from the PATH"
            } else {
                "nginx not installed: no nginx figures"
            }
        );

        let mut seeded = 0;
        for suspended in SUSPENDED {
            let seeding = Instant::now();
            seed(&engine, seeded, suspended);
            seeded = suspended;
            let envs = engine.env_index().len();
            assert_eq!(envs, suspended + 1, "the engine's envs");
            println!(
                "\n== state: 1 running env + {suspended} suspended ({envs} envs; seeded in {:.1} s)",
                seeding.elapsed().as_secs_f64()
            );
            for (label, app, nginx) in &started {
                table.set(&app_name, &staging, *app);
                harness::header(&format!("{label}, {envs} envs"));
                let mut result = Result3 {
                    direct: Vec::new(),
                    router: Vec::new(),
                    nginx: Vec::new(),
                };
                for round in 1..=ROUNDS {
                    let direct = load(*app, HOST, TIMING).await;
                    row(&format!("  direct (round {round})"), &direct);
                    let routed = load(router.addr, HOST, TIMING).await;
                    row(&format!("  via router (round {round})"), &routed);
                    ratio("router", &routed, &direct);
                    if let Some(nginx) = nginx {
                        let proxied = load(nginx.addr, HOST, TIMING).await;
                        row(&format!("  via nginx (round {round})"), &proxied);
                        ratio("nginx", &proxied, &direct);
                        result.nginx.push(proxied);
                    }
                    result.direct.push(direct);
                    result.router.push(routed);
                }
                results.push((envs, label, result));
            }
        }
        router.stop().await;
    });

    println!(
        "\nsummary over {ROUNDS} rounds (throughput as % of direct; p99 in µs)\n{:<12} {:<12} {:>9} {:>9} {:>11} {:>11} {:>11}",
        "envs", "app", "router", "nginx", "direct p99", "router p99", "nginx p99"
    );
    for (envs, label, result) in &results {
        let rps = |f: &[Figures]| f.iter().map(|f| f.requests_per_second).sum::<f64>();
        let p99 = |f: &[Figures]| {
            f.iter().map(|f| f.p99.as_secs_f64() * 1e6).sum::<f64>() / f.len().max(1) as f64
        };
        let share = |f: &[Figures]| {
            if f.is_empty() {
                "-".to_owned()
            } else {
                format!("{:.0}%", 100.0 * rps(f) / rps(&result.direct))
            }
        };
        let micros = |f: &[Figures]| {
            if f.is_empty() {
                "-".to_owned()
            } else {
                format!("{:.0}", p99(f))
            }
        };
        println!(
            "{envs:<12} {label:<12} {:>9} {:>9} {:>11} {:>11} {:>11}",
            share(&result.router),
            share(&result.nginx),
            micros(&result.direct),
            micros(&result.router),
            micros(&result.nginx)
        );
    }
    let served: usize = results
        .iter()
        .flat_map(|(_, _, r)| &r.router)
        .map(|f| (f.requests_per_second * TIMING.measure.as_secs_f64()) as usize)
        .sum();
    println!(
        "addresses looked up through EnvBackends: {} (at least the {served} measured requests)",
        table.lookups.load(Ordering::Relaxed)
    );
}
