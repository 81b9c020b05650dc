//! What the router benches share: a tiny app, the load client (N keep-alive
//! clients, one request after another), nginx as a contestant when it is
//! installed, and the rows they print. Included by `benches/router.rs` of
//! this crate (the router with a fake backend table) and by rushbox's
//! `benches/router.rs` (the router with the engine's backends), with
//! `#[path]`, so both measure alike.

// Each bench uses the part it needs.
#![allow(dead_code)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};

pub const CLIENTS: usize = 32;

/// An app answering a short text, after `work` if any.
pub async fn start_app(work: Duration) -> SocketAddr {
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

#[derive(Debug, Clone, Copy)]
pub struct Figures {
    pub requests_per_second: f64,
    pub p50: Duration,
    pub p99: Duration,
}

/// How long each measurement runs, after a warm-up that is not counted.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub warm_up: Duration,
    pub measure: Duration,
}

/// `CLIENTS` keep-alive connections to `target`, each sending one request
/// after another with `host` as its Host; latencies counted after the warm-up only.
pub async fn load(target: SocketAddr, host: &'static str, timing: Timing) -> Figures {
    let start = Instant::now();
    let measure_from = start + timing.warm_up;
    let until = measure_from + timing.measure;
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
                        .header("host", host)
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
        requests_per_second: latencies.len() as f64 / timing.measure.as_secs_f64(),
        p50: at(0.50),
        p99: at(0.99),
    }
}

pub fn header(label: &str) {
    println!(
        "\n{label:<32} {:>10} {:>10} {:>10}",
        "req/s", "p50 µs", "p99 µs"
    );
}

pub fn row(name: &str, figures: &Figures) {
    println!(
        "{name:<32} {:>10.0} {:>10.0} {:>10.0}",
        figures.requests_per_second,
        figures.p50.as_secs_f64() * 1e6,
        figures.p99.as_secs_f64() * 1e6
    );
}

/// Throughput as a share of direct, and p50 and p99 as multiples of direct's.
pub fn ratio(name: &str, proxied: &Figures, direct: &Figures) {
    println!(
        "  {:<30} {:>9.0}% {:>9.2}x {:>9.2}x",
        format!("ratio {name}/direct"),
        100.0 * proxied.requests_per_second / direct.requests_per_second,
        proxied.p50.as_secs_f64() / direct.p50.as_secs_f64(),
        proxied.p99.as_secs_f64() / direct.p99.as_secs_f64()
    );
}

pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// nginx from the system's packages as a contestant, when installed: a
/// reverse proxy with keep-alive to the app, as many workers as cores.
pub struct Nginx {
    process: Child,
    dir: tempfile::TempDir,
    pub addr: SocketAddr,
}

impl Nginx {
    pub fn start(app: SocketAddr) -> Option<Nginx> {
        let dir = tempfile::tempdir().ok()?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let here = dir.path().display();
        let workers = cores();
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
        // Polled: nginx says nothing when it listens, and this is a bench, not a test.
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

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// The router, serving `backends` on the `routers` runtime at a port of
/// its own, until [`Router::stop`].
pub struct Router {
    pub addr: SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    served: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Router {
    pub async fn start(
        routers: &tokio::runtime::Runtime,
        backends: std::sync::Arc<dyn rushbox_router::Backends>,
    ) -> Router {
        let listener = routers
            .spawn(TcpListener::bind("127.0.0.1:0"))
            .await
            .expect("a task")
            .expect("bind the router");
        let addr = listener.local_addr().expect("the router's address");
        let config = rushbox_router::RouterConfig {
            listen: addr,
            ..rushbox_router::RouterConfig::default()
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let served = routers.spawn(rushbox_router::serve(listener, config, backends, async {
            let _ = stopped.await;
        }));
        Router { addr, stop, served }
    }

    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.served.await;
    }
}
