//! Router overhead with a fake backend table, side by side in one run: N
//! keep-alive clients hit a tiny app directly, then through the router (and
//! nginx, when it is on the PATH), for a few seconds each, twice over;
//! prints requests/s, p50 and p99 latency, and ratios to direct.
//!
//! `cargo bench -p rushbox-router --bench router` (under 60 s). Two apps: one
//! that answers at once, where a proxy's own cost shows in full, and one
//! that takes 1 ms per request, more like a real app. The backend here is
//! a table that costs nothing, so this is the router's own cost; rushbox's
//! `cargo bench -p rushbox --bench router` measures it with the engine's
//! backends and states of up to 1,001 envs.

mod harness;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use harness::{CLIENTS, Nginx, Router, Timing, load, ratio, row};
use rushbox_router::{Backends, Lookup};

const TIMING: Timing = Timing {
    warm_up: Duration::from_millis(500),
    measure: Duration::from_secs(3),
};
const ROUNDS: usize = 2;

/// One env, always running.
struct OneEnv {
    app: SocketAddr,
    touches: AtomicU64,
}

impl Backends for OneEnv {
    fn lookup(&self, env: &str) -> Lookup {
        if env == "app" {
            Lookup::Running(self.app)
        } else {
            Lookup::Unknown
        }
    }
    fn wake(&self, _env: &str) -> Result<SocketAddr, String> {
        Err("never suspended".into())
    }
    fn touch(&self, _env: &str) {
        self.touches.fetch_add(1, Ordering::Relaxed);
    }
    fn running(&self) -> Vec<(String, String)> {
        vec![("app".into(), "http://app.localhost:8080/".into())]
    }
}

fn main() {
    // The clients, the app and the router each get a runtime of their own,
    // as they would be separate processes (and nginx is).
    let clients = harness::runtime();
    let apps = harness::runtime();
    let routers = harness::runtime();
    clients.block_on(async {
        println!(
            "{CLIENTS} keep-alive clients, {} s each, {ROUNDS} rounds, {} cores",
            TIMING.measure.as_secs(),
            harness::cores()
        );
        for (label, work) in [
            ("instant app", Duration::ZERO),
            ("1 ms app", Duration::from_millis(1)),
        ] {
            let app = apps
                .spawn(harness::start_app(work))
                .await
                .expect("the app starts");
            let backends = Arc::new(OneEnv {
                app,
                touches: AtomicU64::new(0),
            });
            let router = Router::start(&routers, backends).await;
            let nginx = Nginx::start(app);

            harness::header(label);
            let mut totals = [0.0; 3];
            let host = "app.localhost";
            for round in 1..=ROUNDS {
                let direct = load(app, host, TIMING).await;
                row(&format!("  direct (round {round})"), &direct);
                let routed = load(router.addr, host, TIMING).await;
                row(&format!("  via router (round {round})"), &routed);
                totals[0] += direct.requests_per_second;
                totals[1] += routed.requests_per_second;
                ratio("router", &routed, &direct);
                if let Some(nginx) = &nginx {
                    let proxied = load(nginx.addr, host, TIMING).await;
                    row(&format!("  via nginx (round {round})"), &proxied);
                    totals[2] += proxied.requests_per_second;
                    ratio("nginx", &proxied, &direct);
                }
            }
            print!(
                "  throughput over all rounds: router = {:.0}% of direct",
                100.0 * totals[1] / totals[0]
            );
            match nginx {
                Some(_) => println!(", nginx = {:.0}% of direct", 100.0 * totals[2] / totals[0]),
                None => println!(" (nginx not installed: no nginx figures)"),
            }
            router.stop().await;
        }
    });
}
