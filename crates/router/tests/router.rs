//! The env router over real sockets: a fake `Backends` in front of tiny hyper
//! servers on 127.0.0.1, and clients that speak real HTTP/1.1 to the router.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Channel, Empty, Full};
use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rushbox_router::{Backends, Lookup, RouterConfig, serve};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};

// ---------------------------------------------------------------- fake envs

enum FakeEnv {
    Running(SocketAddr),
    /// Stopped; a wake takes `delay`, then runs at the address or fails.
    Suspended {
        delay: Duration,
        wakes_to: Result<SocketAddr, String>,
    },
}

#[derive(Default)]
struct FakeBackends {
    envs: Mutex<HashMap<String, FakeEnv>>,
    wakes: AtomicUsize,
    touches: Mutex<Vec<String>>,
}

impl FakeBackends {
    fn with(envs: Vec<(&str, FakeEnv)>) -> Arc<Self> {
        let fake = FakeBackends::default();
        fake.envs
            .lock()
            .unwrap()
            .extend(envs.into_iter().map(|(name, env)| (name.to_string(), env)));
        Arc::new(fake)
    }
    fn wakes(&self) -> usize {
        self.wakes.load(Ordering::SeqCst)
    }
    fn touches(&self) -> Vec<String> {
        self.touches.lock().unwrap().clone()
    }
}

impl Backends for FakeBackends {
    fn lookup(&self, env: &str) -> Lookup {
        match self.envs.lock().unwrap().get(env) {
            Some(FakeEnv::Running(addr)) => Lookup::Running(*addr),
            Some(FakeEnv::Suspended { .. }) => Lookup::Suspended,
            None => Lookup::Unknown,
        }
    }
    fn wake(&self, env: &str) -> Result<SocketAddr, String> {
        self.wakes.fetch_add(1, Ordering::SeqCst);
        let (delay, wakes_to) = match self.envs.lock().unwrap().get(env) {
            Some(FakeEnv::Suspended { delay, wakes_to }) => (*delay, wakes_to.clone()),
            Some(FakeEnv::Running(addr)) => return Ok(*addr),
            None => return Err("no such env".into()),
        };
        std::thread::sleep(delay);
        let addr = wakes_to?;
        self.envs
            .lock()
            .unwrap()
            .insert(env.to_string(), FakeEnv::Running(addr));
        Ok(addr)
    }
    fn touch(&self, env: &str) {
        self.touches.lock().unwrap().push(env.to_string());
    }
    fn running(&self) -> Vec<(String, String)> {
        let mut running: Vec<_> = self
            .envs
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, env)| matches!(env, FakeEnv::Running(_)))
            .map(|(name, _)| (name.clone(), format!("http://{name}.localhost:8080/")))
            .collect();
        running.sort();
        running
    }
}

// ---------------------------------------------------------------- backends

type Body = http_body_util::combinators::BoxBody<Bytes, Infallible>;

fn full(text: impl Into<Bytes>) -> Body {
    Full::new(text.into()).boxed()
}

/// A tiny app that says who it is and what it was sent.
async fn start_app(name: &'static str) -> SocketAddr {
    start_backend(move |request| async move {
        let header = |name: &str| {
            request
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-")
                .to_string()
        };
        let said = format!(
            "env={name} uri={} host={} xff={} xfh={} xfp={}",
            request.uri(),
            header("host"),
            header("x-forwarded-for"),
            header("x-forwarded-host"),
            header("x-forwarded-proto"),
        );
        Response::new(full(said))
    })
    .await
}

/// Serve `handler` on a fresh port, upgrades allowed.
async fn start_backend<F, Fut>(handler: F) -> SocketAddr
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response<Body>> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let handler = handler.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request| {
                    let handler = handler.clone();
                    async move { Ok::<_, Infallible>(handler(request).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .with_upgrades()
                    .await;
            });
        }
    });
    addr
}

// ---------------------------------------------------------------- the router

struct Running {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    served: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    async fn shut_down(mut self) {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(Duration::from_secs(5), self.served)
            .await
            .expect("the router stops within 5 s")
            .unwrap()
            .unwrap();
    }
}

async fn start_router(backends: Arc<FakeBackends>) -> Running {
    start_router_with(backends, Duration::from_secs(60)).await
}

async fn start_router_with(backends: Arc<FakeBackends>, wake_timeout: Duration) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let config = RouterConfig {
        listen: addr,
        wake_timeout,
        ..RouterConfig::default()
    };
    let (stop, stopped) = oneshot::channel::<()>();
    let served = tokio::spawn(serve(listener, config, backends, async {
        let _ = stopped.await;
    }));
    Running {
        addr,
        stop: Some(stop),
        served,
    }
}

// ---------------------------------------------------------------- clients

struct Answer {
    status: StatusCode,
    headers: hyper::HeaderMap,
    body: String,
}

/// One request on its own connection through hyper's client.
async fn send(router: SocketAddr, request: Request<Body>) -> Answer {
    let stream = TcpStream::connect(router).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    let response = sender.send_request(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

async fn get(router: SocketAddr, host: &str, path: &str) -> Answer {
    let request = Request::get(path)
        .header("host", host)
        .body(full(""))
        .unwrap();
    send(router, request).await
}

/// Bytes exactly as written, for requests hyper's client would not send.
async fn raw(router: SocketAddr, request: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(router).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .get(9..12)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    (status, answer)
}

// ---------------------------------------------------------------- routing

#[tokio::test]
async fn two_envs_are_routed_by_host_whatever_its_case_port_or_trailing_dot() {
    let foo = start_app("foo").await;
    let bar = start_app("bar").await;
    let backends = FakeBackends::with(vec![
        ("dev-foo", FakeEnv::Running(foo)),
        ("dev-bar", FakeEnv::Running(bar)),
    ]);
    let router = start_router(backends.clone()).await;

    for (host, env) in [
        ("dev-foo.localhost", "foo"),
        ("dev-bar.localhost", "bar"),
        ("DEV-Foo.LOCALHOST", "foo"),
        ("dev-bar.localhost:8080", "bar"),
        ("dev-foo.localhost.", "foo"),
        ("dev-bar.localhost.:8080", "bar"),
    ] {
        let answer = get(router.addr, host, "/hello?x=1").await;
        assert_eq!(answer.status, StatusCode::OK, "{host}");
        assert!(
            answer
                .body
                .starts_with(&format!("env={env} uri=/hello?x=1 host={host} ")),
            "{host}: {}",
            answer.body
        );
        assert!(
            answer.body.contains(&format!("xfh={host} ")),
            "{}",
            answer.body
        );
        assert!(
            answer.body.contains("xff=127.0.0.1 ") && answer.body.ends_with("xfp=http"),
            "{}",
            answer.body
        );
    }
    assert_eq!(
        backends.touches().len(),
        6,
        "every routed request counts as activity"
    );
    router.shut_down().await;
}

#[tokio::test]
async fn a_conflicting_absolute_uri_is_refused_and_x_forwarded_host_decides_nothing() {
    let foo = start_app("foo").await;
    let bar = start_app("bar").await;
    let backends = FakeBackends::with(vec![
        ("dev-foo", FakeEnv::Running(foo)),
        ("dev-bar", FakeEnv::Running(bar)),
    ]);
    let router = start_router(backends).await;

    let (status, answer) = raw(
        router.addr,
        "GET http://dev-bar.localhost/x HTTP/1.1\r\nHost: dev-foo.localhost\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(
        status, 400,
        "a target naming another host than Host is refused: {answer}"
    );
    assert!(!answer.contains("env="), "{answer}");

    let (status, answer) = raw(
        router.addr,
        "GET http://DEV-FOO.localhost/x HTTP/1.1\r\nHost: dev-foo.localhost\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert!(
        answer.contains("env=foo uri=/x "),
        "absolute-form goes to the backend as origin-form: {answer}"
    );

    let (status, answer) = raw(
        router.addr,
        "GET / HTTP/1.1\r\nHost: dev-foo.localhost\r\nX-Forwarded-Host: dev-bar.localhost\r\n\
         X-Forwarded-For: 10.0.0.1\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer.contains("env=foo "), "{answer}");
    assert!(
        answer.contains("xfh=dev-foo.localhost "),
        "the client's X-Forwarded-Host is replaced: {answer}"
    );
    assert!(
        answer.contains("xff=10.0.0.1, 127.0.0.1 "),
        "X-Forwarded-For is appended to: {answer}"
    );
    router.shut_down().await;
}

#[tokio::test]
async fn a_missing_duplicate_or_malformed_host_is_a_400_and_wakes_nothing() {
    let backends = FakeBackends::with(vec![(
        "dev-foo",
        FakeEnv::Suspended {
            delay: Duration::ZERO,
            wakes_to: Err("should not wake".into()),
        },
    )]);
    let router = start_router(backends.clone()).await;

    for request in [
        "GET / HTTP/1.1\r\nConnection: close\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: dev-foo.localhost\r\nHost: dev-foo.localhost\r\nConnection: close\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a.dev-foo.localhost\r\nConnection: close\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: dev_foo.localhost\r\nConnection: close\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: -dev.localhost\r\nConnection: close\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: dev-foo.localhost:http\r\nConnection: close\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: \r\nConnection: close\r\n\r\n",
    ] {
        let (status, answer) = raw(router.addr, request).await;
        assert_eq!(status, 400, "{request:?} → {answer}");
    }
    let long = format!(
        "GET / HTTP/1.1\r\nHost: {}.localhost\r\nConnection: close\r\n\r\n",
        "a".repeat(64)
    );
    assert_eq!(raw(router.addr, &long).await.0, 400);
    assert_eq!(backends.wakes(), 0);
    assert!(backends.touches().is_empty());
    router.shut_down().await;
}

#[tokio::test]
async fn an_unknown_env_gets_a_404_page_listing_the_running_envs_escaped() {
    let foo = start_app("foo").await;
    let backends = FakeBackends::with(vec![
        ("dev-foo", FakeEnv::Running(foo)),
        ("<script>alert(1)</script>", FakeEnv::Running(foo)),
        (
            "sleepy",
            FakeEnv::Suspended {
                delay: Duration::ZERO,
                wakes_to: Ok(foo),
            },
        ),
    ]);
    let router = start_router(backends.clone()).await;

    let answer = get(router.addr, "nope.localhost", "/").await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert_eq!(answer.headers["content-type"], "text/html; charset=utf-8");
    assert!(
        answer.body.contains("No environment at nope.localhost"),
        "{}",
        answer.body
    );
    assert!(answer.body.contains(">dev-foo</a>"), "{}", answer.body);
    assert!(
        answer
            .body
            .contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{}",
        answer.body
    );
    assert!(!answer.body.contains("<script>"), "{}", answer.body);
    assert!(
        !answer.body.contains("sleepy"),
        "only running envs are listed"
    );

    let answer = get(router.addr, "LocalHost:8080", "/").await;
    assert_eq!(
        answer.status,
        StatusCode::OK,
        "the domain itself gets the page"
    );
    assert!(answer.body.contains(">dev-foo</a>"), "{}", answer.body);

    let answer = get(router.addr, "127.0.0.1:8080", "/").await;
    assert_eq!(
        answer.status,
        StatusCode::NOT_FOUND,
        "a host outside the domain gets the page"
    );
    assert!(answer.body.contains(">dev-foo</a>"), "{}", answer.body);

    assert_eq!(backends.wakes(), 0);
    assert!(backends.touches().is_empty(), "nothing was routed");
    router.shut_down().await;
}

#[tokio::test]
async fn a_backend_that_is_down_is_a_502() {
    let closed = {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap()
    };
    let backends = FakeBackends::with(vec![("dev-foo", FakeEnv::Running(closed))]);
    let router = start_router(backends).await;
    let answer = get(router.addr, "dev-foo.localhost", "/").await;
    assert_eq!(answer.status, StatusCode::BAD_GATEWAY);
    assert!(
        answer.body.contains("env dev-foo did not answer"),
        "{}",
        answer.body
    );
    router.shut_down().await;
}

#[tokio::test]
async fn an_env_that_closes_every_connection_is_still_served_on_the_next_request() {
    let app = start_backend(|_request| async {
        let mut response = Response::new(full("closing"));
        response
            .headers_mut()
            .insert("connection", HeaderValue::from_static("close"));
        response
    })
    .await;
    let backends = FakeBackends::with(vec![("dev-foo", FakeEnv::Running(app))]);
    let router = start_router(backends).await;
    for _ in 0..5 {
        let answer = get(router.addr, "dev-foo.localhost", "/").await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        assert_eq!(answer.body, "closing");
        assert!(
            answer.headers.get("connection").is_none(),
            "hop-by-hop headers stay on their hop"
        );
    }
    router.shut_down().await;
}

// ---------------------------------------------------------------- streaming

#[tokio::test]
async fn a_slow_response_streams_the_client_sees_the_first_chunk_before_the_last_is_sent() {
    let (last_sent_tx, mut last_sent) = mpsc::unbounded_channel::<()>();
    let (go_on_tx, go_on) = mpsc::unbounded_channel::<()>();
    let go_on = Arc::new(tokio::sync::Mutex::new(go_on));
    let app = start_backend(move |_request| {
        let go_on = go_on.clone();
        let last_sent_tx = last_sent_tx.clone();
        async move {
            let (mut sender, body) = Channel::<Bytes, Infallible>::new(1);
            tokio::spawn(async move {
                let chunk = Bytes::from(vec![b'x'; 64 * 1024]);
                sender.send_data(chunk.clone()).await.unwrap();
                // The rest only once the test says it saw the first chunk.
                go_on.lock().await.recv().await;
                for _ in 0..31 {
                    sender.send_data(chunk.clone()).await.unwrap();
                }
                let _ = last_sent_tx.send(());
            });
            Response::new(body.boxed())
        }
    })
    .await;
    let backends = FakeBackends::with(vec![("dev-foo", FakeEnv::Running(app))]);
    let router = start_router(backends).await;

    let stream = TcpStream::connect(router.addr).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    let request = Request::get("/big")
        .header("host", "dev-foo.localhost")
        .body(full(""))
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.into_body();
    let first = tokio::time::timeout(Duration::from_secs(5), body.frame())
        .await
        .expect("the first chunk arrives while the backend still holds the rest")
        .unwrap()
        .unwrap();
    let mut received = first.into_data().unwrap().len();
    assert!(
        last_sent.try_recv().is_err(),
        "the last chunk was not sent yet"
    );
    go_on_tx.send(()).unwrap();
    while let Some(frame) = body.frame().await {
        received += frame.unwrap().into_data().map_or(0, |data| data.len());
    }
    assert_eq!(received, 32 * 64 * 1024);
    router.shut_down().await;
}

#[tokio::test]
async fn a_request_body_streams_to_the_backend() {
    let (first_seen_tx, mut first_seen) = mpsc::unbounded_channel::<usize>();
    let app = start_backend(move |request: Request<Incoming>| {
        let first_seen_tx = first_seen_tx.clone();
        async move {
            let mut body = request.into_body();
            let mut total = 0;
            let mut first = true;
            while let Some(Ok(frame)) = body.frame().await {
                let len = frame.into_data().map_or(0, |data| data.len());
                total += len;
                if first && len > 0 {
                    first = false;
                    let _ = first_seen_tx.send(len);
                }
            }
            Response::new(full(format!("got {total} bytes")))
        }
    })
    .await;
    let backends = FakeBackends::with(vec![("dev-foo", FakeEnv::Running(app))]);
    let router = start_router(backends).await;

    let (mut upload, body) = Channel::<Bytes, Infallible>::new(1);
    let request = Request::post("/upload")
        .header("host", "dev-foo.localhost")
        .body(body.boxed())
        .unwrap();
    let answer = tokio::spawn(send(router.addr, request));
    upload
        .send_data(Bytes::from_static(b"first chunk"))
        .await
        .unwrap();
    let seen = tokio::time::timeout(Duration::from_secs(5), first_seen.recv())
        .await
        .expect("the backend reads the first chunk while the client still holds the rest");
    assert_eq!(seen, Some(11));
    upload
        .send_data(Bytes::from(vec![b'y'; 100_000]))
        .await
        .unwrap();
    drop(upload);
    let answer = answer.await.unwrap();
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body, "got 100011 bytes");
    router.shut_down().await;
}

// ---------------------------------------------------------------- upgrades

#[tokio::test]
async fn an_upgrade_passes_through_and_bytes_echo_both_ways() {
    let app = start_backend(|mut request: Request<Incoming>| async move {
        let wants = request.headers().get("upgrade").cloned();
        let connection = request.headers().get("connection").cloned();
        if wants.as_ref().is_none_or(|w| w != "echo") || connection.is_none_or(|c| c != "upgrade") {
            let mut response = Response::new(full("upgrade headers lost"));
            *response.status_mut() = StatusCode::BAD_REQUEST;
            return response;
        }
        let on_upgrade = hyper::upgrade::on(&mut request);
        tokio::spawn(async move {
            let Ok(upgraded) = on_upgrade.await else {
                return;
            };
            let mut io = TokioIo::new(upgraded);
            let mut buf = [0u8; 1024];
            loop {
                match io.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        if io.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                }
            }
        });
        let mut response = Response::new(Empty::new().boxed());
        *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        response
            .headers_mut()
            .insert("upgrade", HeaderValue::from_static("echo"));
        response
            .headers_mut()
            .insert("connection", HeaderValue::from_static("upgrade"));
        response
    })
    .await;
    let backends = FakeBackends::with(vec![("dev-foo", FakeEnv::Running(app))]);
    let router = start_router(backends.clone()).await;

    let mut stream = TcpStream::connect(router.addr).await.unwrap();
    stream
        .write_all(b"GET /ws HTTP/1.1\r\nHost: dev-foo.localhost\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
        .await
        .unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        stream.read_exact(&mut byte).await.unwrap();
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(
        head.to_ascii_lowercase().contains("upgrade: echo"),
        "{head}"
    );
    for message in ["hello", "through the router", "and back"] {
        stream.write_all(message.as_bytes()).await.unwrap();
        let mut echoed = vec![0u8; message.len()];
        tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut echoed))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(echoed, message.as_bytes());
    }
    assert_eq!(
        backends.touches(),
        ["dev-foo"],
        "the upgrade request counts as activity"
    );
    drop(stream);
    router.shut_down().await;
}

// ---------------------------------------------------------------- suspend and wake

#[tokio::test]
async fn a_hundred_requests_to_a_suspended_env_cause_exactly_one_wake_and_all_are_answered() {
    let foo = start_app("foo").await;
    let backends = FakeBackends::with(vec![
        (
            "dev-foo",
            FakeEnv::Suspended {
                delay: Duration::from_millis(300),
                wakes_to: Ok(foo),
            },
        ),
        (
            "dev-bar",
            FakeEnv::Suspended {
                delay: Duration::ZERO,
                wakes_to: Err("must stay asleep".into()),
            },
        ),
    ]);
    let router = start_router(backends.clone()).await;

    let requests: Vec<_> = (0..100)
        .map(|i| {
            let router = router.addr;
            tokio::spawn(async move { get(router, "dev-foo.localhost", &format!("/{i}")).await })
        })
        .collect();
    for (i, request) in requests.into_iter().enumerate() {
        let answer = request.await.unwrap();
        assert_eq!(
            answer.status,
            StatusCode::OK,
            "request {i}: {}",
            answer.body
        );
        assert!(
            answer.body.starts_with(&format!("env=foo uri=/{i} ")),
            "{}",
            answer.body
        );
    }
    assert_eq!(
        backends.wakes(),
        1,
        "one wake for all 100 requests, none for dev-bar"
    );
    assert_eq!(backends.touches().len(), 100);

    // Awake now: later requests go straight through.
    assert_eq!(
        get(router.addr, "dev-foo.localhost", "/").await.status,
        StatusCode::OK
    );
    assert_eq!(backends.wakes(), 1);
    router.shut_down().await;
}

#[tokio::test]
async fn a_thousand_requests_for_envs_that_do_not_exist_wake_nothing() {
    let backends = FakeBackends::with(vec![(
        "dev-foo",
        FakeEnv::Suspended {
            delay: Duration::ZERO,
            wakes_to: Err("must stay asleep".into()),
        },
    )]);
    let router = start_router(backends.clone()).await;
    let clients: Vec<_> = (0..10)
        .map(|client| {
            let router = router.addr;
            tokio::spawn(async move {
                let stream = TcpStream::connect(router).await.unwrap();
                let (mut sender, connection) =
                    hyper::client::conn::http1::handshake(TokioIo::new(stream))
                        .await
                        .unwrap();
                tokio::spawn(connection);
                for i in 0..100 {
                    let host = format!("dev-{client}-{i}.localhost");
                    let request = Request::get("/")
                        .header("host", host)
                        .body(full(""))
                        .unwrap();
                    let response = sender.send_request(request).await.unwrap();
                    assert_eq!(response.status(), StatusCode::NOT_FOUND);
                    response.into_body().collect().await.unwrap();
                }
            })
        })
        .collect();
    for client in clients {
        client.await.unwrap();
    }
    assert_eq!(backends.wakes(), 0);
    assert!(backends.touches().is_empty());
    router.shut_down().await;
}

#[tokio::test]
async fn a_wake_that_fails_is_a_503_with_retry_after() {
    let backends = FakeBackends::with(vec![(
        "dev-foo",
        FakeEnv::Suspended {
            delay: Duration::ZERO,
            wakes_to: Err("its build failed".into()),
        },
    )]);
    let router = start_router(backends.clone()).await;
    let answer = get(router.addr, "dev-foo.localhost", "/").await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(answer.headers["retry-after"], "5");
    assert!(
        answer
            .body
            .contains("env dev-foo could not be woken: its build failed"),
        "{}",
        answer.body
    );
    assert!(backends.touches().is_empty());
    router.shut_down().await;
}

#[tokio::test]
async fn a_wake_slower_than_the_timeout_is_a_503_with_retry_after_and_is_not_repeated() {
    let foo = start_app("foo").await;
    let backends = FakeBackends::with(vec![(
        "dev-foo",
        FakeEnv::Suspended {
            delay: Duration::from_millis(1500),
            wakes_to: Ok(foo),
        },
    )]);
    let router = start_router_with(backends.clone(), Duration::from_millis(200)).await;
    let started = std::time::Instant::now();
    let answer = get(router.addr, "dev-foo.localhost", "/").await;
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "answered at the timeout, not after the wake"
    );
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(answer.headers["retry-after"], "5");
    assert!(answer.body.contains("still waking"), "{}", answer.body);

    // A retry while the wake goes on joins it instead of starting another.
    assert_eq!(
        get(router.addr, "dev-foo.localhost", "/").await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        get(router.addr, "dev-foo.localhost", "/").await.status,
        StatusCode::OK
    );
    assert_eq!(backends.wakes(), 1);
    router.shut_down().await;
}

// ---------------------------------------------------------------- shutdown

#[tokio::test]
async fn shutdown_lets_the_request_in_flight_finish_then_stops_listening() {
    let app = start_backend(|_request| async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        Response::new(full("done"))
    })
    .await;
    let backends = FakeBackends::with(vec![("dev-foo", FakeEnv::Running(app))]);
    let router = start_router(backends).await;
    let addr = router.addr;
    let in_flight = tokio::spawn(get(addr, "dev-foo.localhost", "/"));
    tokio::time::sleep(Duration::from_millis(100)).await;
    router.shut_down().await;
    let answer = in_flight.await.unwrap();
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body, "done");
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "the listener is closed"
    );
}
