//! `rushbox serve` with `[discord]` while Discord can't be reached: the real
//! binary, a real git repository and store, and Discord's REST API (which
//! says where the gateway is) on loopback or nowhere. rushbox must say that
//! Discord is down and when it tries again, keep trying, and still stop
//! within seconds on SIGTERM.

// Only the repository is needed here, not the slow provider.
#[allow(dead_code)]
mod common;
mod serving;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::json;
use serving::{PATIENCE, Running};

/// Seconds are enough to stop, whatever the gateway does (rushbox allows
/// its platforms 5 s, then goes); this is the failure guard, not a wait.
const STOPS_WITHIN: Duration = Duration::from_secs(10);

/// A loopback address nothing listens on: connecting is refused.
fn refused_address() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// A gateway that accepts TCP connections and then says nothing; each
/// accepted connection is reported on the channel and kept open.
fn silent_gateway() -> (SocketAddr, mpsc::Receiver<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let (accepted, accepts) = mpsc::channel();
    std::thread::spawn(move || {
        let mut held: Vec<TcpStream> = Vec::new();
        for stream in listener.incoming().map_while(Result::ok) {
            held.push(stream);
            if accepted.send(()).is_err() {
                return;
            }
        }
    });
    (address, accepts)
}

/// Discord's REST API on loopback, saying the gateway is at `gateway`.
struct FakeDiscordApi {
    url: String,
    _runtime: tokio::runtime::Runtime,
}

impl FakeDiscordApi {
    fn start(gateway: &str) -> FakeDiscordApi {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let answer = json!({ "url": gateway });
        let app = axum::Router::new().route(
            "/api/v10/gateway",
            axum::routing::get(move || async move { axum::Json(answer) }),
        );
        runtime.spawn(async move { axum::serve(listener, app).await });
        FakeDiscordApi {
            url,
            _runtime: runtime,
        }
    }
}

/// A repository to deploy and a config for `rushbox serve` on Discord.
fn setup(dir: &Path) -> PathBuf {
    common::app_repo(dir);
    let config = dir.join("rushbox.toml");
    std::fs::write(
        &config,
        "store = \"state\"\n[provider]\nkind = \"noop\"\n[[apps]]\nname = \"shop\"\nrepo = \"app\"\n\
         [roles]\nleads = [\"discord:1:lead:*\"]\ndevelopers = [\"discord:1:*\"]\n\
         [discord]\nguild_id = 1\n",
    )
    .unwrap();
    config
}

/// `rushbox serve` with Discord's REST API at `api`.
fn serve(config: &Path, api: &str) -> Running {
    let mut command = serving::serve_command(&["--config".as_ref(), config.as_ref()]);
    command
        .env("DISCORD_TOKEN", "serve-test-token")
        .env("DISCORD_API_PROXY", api);
    Running::spawn(&mut command)
}

fn stops_cleanly_on_sigterm(serve: Running) {
    let (status, took) = serve.terminate_within(STOPS_WITHIN);
    assert!(status.success(), "{status}");
    assert!(took < STOPS_WITHIN, "{took:?}");
}

#[test]
fn while_discords_api_refuses_connections_serve_says_so_retries_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let config = setup(dir.path());
    let api = format!("http://{}", refused_address());
    let mut serve = serve(&config, &api);

    let first = serve.wait_for_line("discord: can't reach Discord's API at");
    assert!(first.contains(&api), "{first}");
    assert!(first.contains("refused"), "says why: {first}");
    assert!(
        first.ends_with("; retrying in 5s, then 10s, 20s … up to 5m"),
        "{first}"
    );
    // The schedule is the real one: the next attempt fails in turn and says what comes next.
    let second = serve.wait_for_line("retrying in 10s, then 20s, 40s … up to 5m");
    assert!(second.contains(&api), "{second}");
    assert!(!serve.stderr().contains("serve-test-token"));

    stops_cleanly_on_sigterm(serve);
}

#[test]
fn while_the_gateway_refuses_connections_serve_says_so_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let config = setup(dir.path());
    let gateway = format!("ws://{}", refused_address());
    let api = FakeDiscordApi::start(&gateway);
    let mut serve = serve(&config, &api.url);

    let line = serve.wait_for_line("discord: can't reach the gateway at");
    assert!(line.contains(&format!("at {gateway}: ")), "{line}");
    assert!(line.contains("refused"), "says why: {line}");
    assert!(
        line.ends_with("; retrying in 5s, then 10s, 20s … up to 5m"),
        "{line}"
    );

    stops_cleanly_on_sigterm(serve);
}

#[test]
fn a_gateway_that_accepts_and_then_stalls_is_given_up_and_sigterm_still_stops_serve() {
    let dir = tempfile::tempdir().unwrap();
    let config = setup(dir.path());
    let (address, accepts) = silent_gateway();
    let gateway = format!("ws://{address}");
    let api = FakeDiscordApi::start(&gateway);
    let mut serve = serve(&config, &api.url);

    accepts.recv_timeout(PATIENCE).expect("rushbox connects");
    let line = serve.wait_for_line("discord: can't reach the gateway at");
    assert_eq!(
        line,
        format!(
            "discord: can't reach the gateway at {gateway}: no answer within 10s; \
             retrying in 5s, then 10s, 20s … up to 5m"
        )
    );
    // The next attempt stalls as well: SIGTERM arrives in the middle of it.
    accepts.recv_timeout(PATIENCE).expect("rushbox tries again");

    stops_cleanly_on_sigterm(serve);
}
