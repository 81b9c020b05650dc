//! rushbox's env router: one HTTP listener that sends `<env>.<domain>` to
//! that env's process, waking it first if it is suspended.
//!
//! It knows HTTP and sockets, nothing of the engine, providers, config files
//! or chat: it asks a [`Backends`] where an env listens, to wake it, and tells
//! it about activity; the binary answers from the engine and the `local`
//! provider. Laid out like tokio's mini-redis: a listener, a task per
//! connection, a shared `Router` handle and a graceful shutdown signal.
//! Bodies stream both ways; nothing is buffered. The crate's README has a
//! whole example: an env, the router in front of it, and a request through.

mod host;
mod page;
mod pool;
mod wake;

/// The README's example, compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::http::uri::PathAndQuery;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode, Uri, Version};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

pub use host::{HostError, env_of_host};
use wake::{WakeError, Wakes, Woken};

/// What the router asks of whoever runs the envs (the engine, or a test).
pub trait Backends: Send + Sync + 'static {
    /// Where a running env listens; [`Lookup::Suspended`] if it exists but is
    /// stopped; [`Lookup::Unknown`] otherwise. Called for every request: cheap.
    fn lookup(&self, env: &str) -> Lookup;
    /// Start a suspended env and return once it is healthy. Blocking is fine:
    /// the router calls it on a blocking thread, once per env at a time. When
    /// it returns `Ok`, `lookup` must already answer `Running`.
    fn wake(&self, env: &str) -> Result<SocketAddr, String>;
    /// A request reached this env (for idle suspension). Cheap; called often.
    fn touch(&self, env: &str);
    /// Running envs and their public addresses, for the unknown-host page.
    fn running(&self) -> Vec<(String, String)>;
}

/// Where an env is, as far as routing goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    Running(SocketAddr),
    Suspended,
    Unknown,
}

/// How the router listens and names envs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouterConfig {
    /// Where to listen; `127.0.0.1:8080` by default.
    pub listen: SocketAddr,
    /// Envs are at `<env>.<domain>`; `localhost` by default, since every
    /// browser and curl resolve `*.localhost` to loopback.
    pub domain: String,
    /// How long a request waits for its env to wake before a 503; 60 s by default.
    pub wake_timeout: Duration,
}

impl Default for RouterConfig {
    fn default() -> Self {
        RouterConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            domain: "localhost".to_string(),
            wake_timeout: Duration::from_secs(60),
        }
    }
}

/// A response body: a backend's streamed through, or one of ours.
type Body = BoxBody<Bytes, hyper::Error>;

/// How long `serve` waits at shutdown for the requests in flight.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// How often an open tunnel (a WebSocket, say) counts as activity of its env.
const TUNNEL_TOUCH_EVERY: Duration = Duration::from_secs(10);

/// Seconds a client is told to wait after a failed or slow wake.
const RETRY_AFTER_SECS: u64 = 5;

/// Serve on `listener` until `shutdown` completes, then stop accepting, let
/// every open connection finish its request in flight (for up to 30 s), and
/// return. The caller binds the listener, to `config.listen` or elsewhere.
///
/// ```no_run
/// # async fn run(backends: std::sync::Arc<dyn rushbox_router::Backends>) -> std::io::Result<()> {
/// use rushbox_router::{serve, RouterConfig};
/// let config = RouterConfig::default();
/// let listener = tokio::net::TcpListener::bind(config.listen).await?;
/// serve(listener, config, backends, async { let _ = tokio::signal::ctrl_c().await; }).await
/// # }
/// ```
pub async fn serve(
    listener: TcpListener,
    config: RouterConfig,
    backends: Arc<dyn Backends>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    // Pages name the port envs are reached on: the bound one, when asked for port 0.
    let config = RouterConfig {
        listen: listener.local_addr().unwrap_or(config.listen),
        ..config
    };
    let (stop, stopping) = watch::channel(false);
    // Every task that serves a client holds a clone of `done`; when the last
    // one ends, `all_done` yields None (mini-redis's shutdown_complete).
    let (done, mut all_done) = mpsc::channel::<()>(1);
    let router = Arc::new(Router::new(config, backends, stopping, done));
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        match accepted {
            Ok((stream, peer)) => {
                tokio::spawn(router.clone().serve_connection(stream, peer));
            }
            // Out of file descriptors and the like: back off, don't die.
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    drop(listener);
    let _ = stop.send(true);
    drop(router);
    // A response that streams without end (server-sent events, say) must not
    // keep rushbox from stopping: past the grace period its task is dropped.
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, all_done.recv()).await;
    Ok(())
}

/// The state that every connection shares.
struct Router {
    config: RouterConfig,
    backends: Arc<dyn Backends>,
    pool: pool::Pool,
    wakes: Wakes,
    stopping: watch::Receiver<bool>,
    /// Held by every task that serves a client; see `serve`.
    done: mpsc::Sender<()>,
}

impl Router {
    fn new(
        config: RouterConfig,
        backends: Arc<dyn Backends>,
        stopping: watch::Receiver<bool>,
        done: mpsc::Sender<()>,
    ) -> Self {
        Router {
            config,
            backends,
            pool: pool::Pool::default(),
            wakes: Wakes::default(),
            stopping,
            done,
        }
    }

    async fn serve_connection(self: Arc<Self>, stream: TcpStream, peer: SocketAddr) {
        let _ = stream.set_nodelay(true);
        let mut stopping = self.stopping.clone();
        let router = self.clone();
        let service = service_fn(move |request| router.clone().handle(request, peer));
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(Duration::from_secs(30))
            .serve_connection(TokioIo::new(stream), service)
            .with_upgrades();
        tokio::pin!(connection);
        tokio::select! {
            _ = connection.as_mut() => {}
            () = stopped(&mut stopping) => {
                connection.as_mut().graceful_shutdown();
                let _ = connection.await;
            }
        }
    }

    async fn handle(
        self: Arc<Self>,
        request: Request<Incoming>,
        peer: SocketAddr,
    ) -> Result<Response<Body>, Infallible> {
        Ok(self.route(request, peer).await)
    }

    async fn route(&self, request: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
        if request.method() == Method::CONNECT {
            return text(
                StatusCode::METHOD_NOT_ALLOWED,
                "rushbox: CONNECT is not supported; this is a router, not a forward proxy.\n",
            );
        }
        let host = match single_host(request.headers()) {
            Ok(host) => host,
            Err(why) => return text(StatusCode::BAD_REQUEST, format!("rushbox: {why}.\n")),
        };
        // An absolute-form target naming another host than `Host` is an
        // anomaly (smuggling, a confused client): route by neither (PROXY-1,
        // reliability item 26).
        if let Some(authority) = request.uri().authority()
            && !same_host(authority.as_str(), &host)
        {
            return text(
                StatusCode::BAD_REQUEST,
                "rushbox: the request names two different hosts (its target and `Host`).\n"
                    .to_owned(),
            );
        }
        let env = match env_of_host(&host, &self.config.domain) {
            Ok(Some(env)) => env,
            Ok(None) => return self.env_list(StatusCode::OK, None),
            Err(HostError::OtherDomain) => {
                return self.env_list(StatusCode::NOT_FOUND, Some(&host));
            }
            Err(why) => {
                return text(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "rushbox: {why}; envs are at {}.\n",
                        page::address_form(&self.config.domain, self.config.listen.port())
                    ),
                );
            }
        };
        let addr = match self.backends.lookup(&env) {
            Lookup::Running(addr) => addr,
            Lookup::Unknown => return self.env_list(StatusCode::NOT_FOUND, Some(&host)),
            Lookup::Suspended => {
                match self
                    .wakes
                    .wake(&self.backends, &env, self.config.wake_timeout)
                    .await
                {
                    Ok(Woken::Ready(addr)) => addr,
                    Ok(Woken::Gone) => return self.env_list(StatusCode::NOT_FOUND, Some(&host)),
                    Err(why) => return wake_failed(&env, why),
                }
            }
        };
        self.backends.touch(&env);
        self.forward(request, &env, addr, &host, peer).await
    }

    fn env_list(&self, status: StatusCode, asked: Option<&str>) -> Response<Body> {
        let page = page::env_list(
            asked,
            &self.config.domain,
            self.config.listen.port(),
            &self.backends.running(),
        );
        let mut response = Response::new(full(page));
        *response.status_mut() = status;
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        response
    }

    /// Send the request on to `addr` and stream its answer back; on `101
    /// Switching Protocols`, join the two upgraded connections.
    async fn forward(
        &self,
        mut request: Request<Incoming>,
        env: &str,
        addr: SocketAddr,
        host: &str,
        peer: SocketAddr,
    ) -> Response<Body> {
        let upgrade = wants_upgrade(request.headers());
        let client_side = upgrade.then(|| hyper::upgrade::on(&mut request));
        let (mut parts, body) = request.into_parts();
        // Origin-form to the backend: the authority of an absolute-form
        // request-target never decides anything (PROXY-1).
        let mut origin_form = hyper::http::uri::Parts::default();
        origin_form.path_and_query = Some(
            parts
                .uri
                .path_and_query()
                .cloned()
                .unwrap_or_else(|| PathAndQuery::from_static("/")),
        );
        parts.uri = match Uri::from_parts(origin_form) {
            Ok(uri) => uri,
            Err(_) => {
                return text(
                    StatusCode::BAD_REQUEST,
                    "rushbox: the request path is not valid.\n",
                );
            }
        };
        parts.version = Version::HTTP_11;
        strip_hop_by_hop(&mut parts.headers, upgrade);
        add_forwarded(&mut parts.headers, host, peer);

        let mut response = match self.pool.send(addr, Request::from_parts(parts, body)).await {
            Ok(response) => response,
            Err(why) => {
                return text(
                    StatusCode::BAD_GATEWAY,
                    format!(
                        "rushbox: env {env} did not answer at {addr} ({why}); is its process up? Try again, or redeploy it.\n"
                    ),
                );
            }
        };
        if response.status() == StatusCode::SWITCHING_PROTOCOLS {
            if let Some(client_side) = client_side {
                let backend_side = hyper::upgrade::on(&mut response);
                self.tunnel(env, client_side, backend_side);
            }
            let (parts, _) = response.into_parts();
            return Response::from_parts(parts, empty());
        }
        strip_hop_by_hop(response.headers_mut(), false);
        response.map(|body| body.boxed())
    }

    /// Copy bytes both ways between the client and the backend once both
    /// sides have switched protocols; ends with either side, or at shutdown.
    /// An open tunnel counts as activity, so a WebSocket keeps its env awake.
    fn tunnel(
        &self,
        env: &str,
        client_side: hyper::upgrade::OnUpgrade,
        backend_side: hyper::upgrade::OnUpgrade,
    ) {
        let mut stopping = self.stopping.clone();
        let done = self.done.clone();
        let backends = self.backends.clone();
        let env = env.to_owned();
        tokio::spawn(async move {
            let _done = done;
            let Ok((client, backend)) = tokio::try_join!(client_side, backend_side) else {
                return;
            };
            let mut client = TokioIo::new(client);
            let mut backend = TokioIo::new(backend);
            let copy = tokio::io::copy_bidirectional(&mut client, &mut backend);
            tokio::pin!(copy);
            let mut activity = tokio::time::interval(TUNNEL_TOUCH_EVERY);
            activity.tick().await; // the first tick is now: the request touched already
            loop {
                tokio::select! {
                    _ = &mut copy => return,
                    () = stopped(&mut stopping) => return,
                    _ = activity.tick() => backends.touch(&env),
                }
            }
        });
    }
}

/// The one `Host` header, as text; a missing, repeated or non-text one is refused.
fn single_host(headers: &HeaderMap) -> Result<String, &'static str> {
    let mut hosts = headers.get_all(header::HOST).iter();
    let host = hosts.next().ok_or("the request has no Host header")?;
    if hosts.next().is_some() {
        return Err("the request has more than one Host header");
    }
    host.to_str()
        .map(str::to_owned)
        .map_err(|_| "the Host header is not plain text")
}

/// Resolves once `serve` is shutting down.
async fn stopped(stopping: &mut watch::Receiver<bool>) {
    let _ = stopping.wait_for(|&stop| stop).await;
}

fn wants_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
        && headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .any(|token| token.trim().eq_ignore_ascii_case("upgrade"))
}

/// Remove the headers that belong to one hop (RFC 9110 §7.6.1), keeping
/// `Connection: upgrade` and `Upgrade` when an upgrade passes through.
fn strip_hop_by_hop(headers: &mut HeaderMap, keep_upgrade: bool) {
    let listed: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|token| HeaderName::try_from(token.trim()).ok())
        .collect();
    for name in listed {
        if !(keep_upgrade && name == header::UPGRADE) {
            headers.remove(name);
        }
    }
    for name in [
        header::CONNECTION,
        header::PROXY_AUTHENTICATE,
        header::PROXY_AUTHORIZATION,
        header::TE,
        header::TRAILER,
        header::TRANSFER_ENCODING,
    ] {
        headers.remove(name);
    }
    headers.remove("keep-alive");
    headers.remove("proxy-connection");
    if keep_upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    } else {
        headers.remove(header::UPGRADE);
    }
}

/// Tell the backend who asked, for what host, over what scheme. The client's
/// own `X-Forwarded-Host` and `-Proto` are replaced; `-For` is appended to.
fn add_forwarded(headers: &mut HeaderMap, host: &str, peer: SocketAddr) {
    static FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
    static PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
    static HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
    let before: Vec<&str> = headers
        .get_all(&FOR)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .collect();
    let chain = if before.is_empty() {
        peer.ip().to_string()
    } else {
        format!("{}, {}", before.join(", "), peer.ip())
    };
    if let Ok(chain) = HeaderValue::try_from(chain) {
        headers.insert(&FOR, chain);
    }
    headers.insert(&PROTO, HeaderValue::from_static("http"));
    if let Ok(host) = HeaderValue::try_from(host) {
        headers.insert(&HOST, host);
    }
}

fn wake_failed(env: &str, why: WakeError) -> Response<Body> {
    let message = match why {
        WakeError::Failed(why) => format!("rushbox: env {env} could not be woken: {why}\n"),
        WakeError::TimedOut(after) => format!(
            "rushbox: env {env} is still waking after {} s; try again shortly.\n",
            after.as_secs_f32()
        ),
    };
    let mut response = text(StatusCode::SERVICE_UNAVAILABLE, message);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
    response
}

fn text(status: StatusCode, message: impl Into<Bytes>) -> Response<Body> {
    let mut response = Response::new(full(message));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn full(content: impl Into<Bytes>) -> Body {
    Full::new(content.into())
        .map_err(|never| match never {})
        .boxed()
}

fn empty() -> Body {
    full(Bytes::new())
}

/// True when two host[:port] strings name the same host, ignoring case, a
/// trailing dot and the default port.
fn same_host(a: &str, b: &str) -> bool {
    let norm = |h: &str| {
        let h = h.to_ascii_lowercase();
        let h = h.strip_suffix(":80").map(str::to_owned).unwrap_or(h);
        h.trim_end_matches('.').to_owned()
    };
    norm(a) == norm(b)
}
