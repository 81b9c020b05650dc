//! Router overhead, side by side in one run: N keep-alive clients hit a tiny
//! app directly, then through the router, for a few seconds each, twice over;
//! prints requests/s, p50 and p99 latency, and router/direct ratios.
//!
//! `cargo bench -p rushbox-router --bench router` (under 60 s). Two apps: one that
//! answers at once, where a proxy's own cost shows in full, and one that
//! takes 1 ms per request, more like a real app. When `nginx` is on the PATH
//! (Debian's `nginx-light`), it runs as a third contestant for comparison.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rushbox_router::{Backends, Lookup, RouterConfig, serve};
use tokio::net::{TcpListener, TcpStream};

const CLIENTS: usize = 32;
const WARM_UP: Duration = Duration::from_millis(500);
const MEASURE: Duration = Duration::from_secs(3);
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

/// An app answering a short text, after `work` if any.
async fn start_app(work: Duration) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the app");
    let addr = listener.local_addr().expect("the app's address");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let service = service_fn(move |_request| async move {
                    if !work.is_zero() {
                        tokio::time::sleep(work).await;
                    }
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(
                        b"hello from the app\n",
                    ))))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

struct Figures {
    requests_per_second: f64,
    p50: Duration,
    p99: Duration,
}

/// `CLIENTS` keep-alive connections to `target`, each sending one request
/// after another; latencies counted after the warm-up only.
async fn load(target: SocketAddr) -> Figures {
    let start = Instant::now();
    let measure_from = start + WARM_UP;
    let until = measure_from + MEASURE;
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            tokio::spawn(async move {
                let stream = TcpStream::connect(target).await.expect("connect");
                let _ = stream.set_nodelay(true);
                let (mut sender, connection) =
                    hyper::client::conn::http1::handshake(TokioIo::new(stream))
                        .await
                        .expect("handshake");
                tokio::spawn(connection);
                let mut latencies = Vec::new();
                loop {
                    let sent = Instant::now();
                    if sent >= until {
                        break;
                    }
                    let request = Request::get("/")
                        .header("host", "app.localhost")
                        .body(Empty::<Bytes>::new())
                        .expect("a request");
                    let response = sender.send_request(request).await.expect("a response");
                    assert!(response.status().is_success(), "{}", response.status());
                    response.into_body().collect().await.expect("the body");
                    if sent >= measure_from {
                        latencies.push(sent.elapsed());
                    }
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for client in clients {
        latencies.extend(client.await.expect("a client"));
    }
    latencies.sort_unstable();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    Figures {
        requests_per_second: latencies.len() as f64 / MEASURE.as_secs_f64(),
        p50: at(0.50),
        p99: at(0.99),
    }
}

fn row(name: &str, figures: &Figures) {
    println!(
        "{name:<28} {:>10.0} {:>10.0} {:>10.0}",
        figures.requests_per_second,
        figures.p50.as_secs_f64() * 1e6,
        figures.p99.as_secs_f64() * 1e6
    );
}

/// nginx from the system's packages as a third contestant, when installed:
/// a reverse proxy with keep-alive to the app, as many workers as cores.
struct Nginx {
    process: Child,
    dir: tempfile::TempDir,
    addr: SocketAddr,
}

impl Nginx {
    fn start(app: SocketAddr) -> Option<Nginx> {
        let dir = tempfile::tempdir().ok()?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let here = dir.path().display();
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
        let conf = format!(
            "worker_processes {workers};\ndaemon off;\npid {here}/nginx.pid;\nerror_log {here}/error.log;\n\
             events {{ worker_connections 4096; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {here}/body;\n  proxy_temp_path {here}/proxy;\n\
             \x20 fastcgi_temp_path {here}/fastcgi;\n  uwsgi_temp_path {here}/uwsgi;\n  scgi_temp_path {here}/scgi;\n\
             \x20 keepalive_requests 10000000;\n\
             \x20 upstream app {{ server {app}; keepalive 64; keepalive_requests 10000000; }}\n\
             \x20 server {{\n    listen {addr};\n    location / {{\n      proxy_pass http://app;\n\
             \x20     proxy_http_version 1.1;\n      proxy_set_header Connection \"\";\n      proxy_set_header Host $host;\n    }}\n  }}\n}}\n"
        );
        std::fs::write(dir.path().join("nginx.conf"), conf).ok()?;
        let process = Command::new("nginx")
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(dir.path().join("nginx.conf"))
            .arg("-e")
            .arg(dir.path().join("error.log"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let nginx = Nginx { process, dir, addr };
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(5) {
            if std::net::TcpStream::connect(addr).is_ok() {
                return Some(nginx);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = Command::new("nginx")
            .arg("-p")
            .arg(self.dir.path())
            .arg("-c")
            .arg(self.dir.path().join("nginx.conf"))
            .arg("-e")
            .arg(self.dir.path().join("error.log"))
            .args(["-s", "stop"])
            .stderr(Stdio::null())
            .status();
        let _ = self.process.wait();
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

fn main() {
    // The clients, the app and the router each get a runtime of their own,
    // as they would be separate processes (and nginx is).
    let clients = runtime();
    let apps = runtime();
    let routers = runtime();
    clients.block_on(async {
        println!(
            "{CLIENTS} keep-alive clients, {} s each, {ROUNDS} rounds, {} cores",
            MEASURE.as_secs(),
            std::thread::available_parallelism().map_or(1, |n| n.get())
        );
        for (label, work) in [
            ("instant app", Duration::ZERO),
            ("1 ms app", Duration::from_millis(1)),
        ] {
            let app = apps.spawn(start_app(work)).await.expect("the app starts");
            let listener = routers
                .spawn(TcpListener::bind("127.0.0.1:0"))
                .await
                .expect("a task")
                .expect("bind the router");
            let router = listener.local_addr().expect("the router's address");
            let backends = Arc::new(OneEnv {
                app,
                touches: AtomicU64::new(0),
            });
            let config = RouterConfig {
                listen: router,
                ..RouterConfig::default()
            };
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let served = routers.spawn(serve(listener, config, backends, async {
                let _ = stopped.await;
            }));
            let nginx = Nginx::start(app);

            println!(
                "\n{label:<28} {:>10} {:>10} {:>10}",
                "req/s", "p50 µs", "p99 µs"
            );
            let mut totals = [0.0; 3];
            for round in 1..=ROUNDS {
                let direct = load(app).await;
                row(&format!("  direct (round {round})"), &direct);
                let routed = load(router).await;
                row(&format!("  via router (round {round})"), &routed);
                totals[0] += direct.requests_per_second;
                totals[1] += routed.requests_per_second;
                ratio("router", &routed, &direct);
                if let Some(nginx) = &nginx {
                    let proxied = load(nginx.addr).await;
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
            let _ = stop.send(());
            let _ = served.await;
        }
    });
}

fn ratio(name: &str, proxied: &Figures, direct: &Figures) {
    println!(
        "  {:<26} {:>9.0}% {:>10.2}x {:>10.2}x",
        format!("ratio {name}/direct"),
        100.0 * proxied.requests_per_second / direct.requests_per_second,
        proxied.p50.as_secs_f64() / direct.p50.as_secs_f64(),
        proxied.p99.as_secs_f64() / direct.p99.as_secs_f64()
    );
}
