//! `rushbox serve` with `[discord]` while Discord can't be reached: the real
//! binary, a real git repository and store, and Discord's REST API (which
//! says where the gateway is) on loopback or nowhere. rushbox must say that
//! Discord is down and when it tries again, keep trying, and still stop
//! within seconds on SIGTERM.

mod common;
mod serving;

use std::path::{Path, PathBuf};

use serde_json::json;
use serving::{PATIENCE, Running, refused_address, silent_server};

/// Discord's REST API on loopback, saying the gateway is at `gateway`.
struct FakeDiscordApi {
    url: String,
    _runtime: tokio::runtime::Runtime,
}

impl FakeDiscordApi {
    fn start(gateway: &str) -> FakeDiscordApi {
        let answer = json!({ "url": gateway });
        let app = axum::Router::new().route(
            "/api/v10/gateway",
            axum::routing::get(move || async move { axum::Json(answer) }),
        );
        let (address, runtime) = serving::on_loopback(app);
        FakeDiscordApi {
            url: format!("http://{address}"),
            _runtime: runtime,
        }
    }
}

/// A repository to deploy and a config for `rushbox serve` on Discord:
/// leads are whoever holds the Discord role 900.
fn setup(dir: &Path) -> PathBuf {
    setup_with(
        dir,
        "[roles]\nleads = [\"group:discord:900\"]\ndevelopers = [\"discord:1:*\"]\n",
    )
}

/// [`setup`] with these `[roles]` (and whatever else `tail` adds).
fn setup_with(dir: &Path, tail: &str) -> PathBuf {
    common::shop_config(
        dir,
        common::NOOP,
        &format!("[discord]\nguild_id = 1\n{tail}"),
    )
}

/// `rushbox serve` with Discord's REST API at `api`.
fn serve(config: &Path, api: &str) -> Running {
    let mut command = serving::serve_command(&["--config".as_ref(), config.as_ref()]);
    command
        .env("DISCORD_TOKEN", "serve-test-token")
        .env("DISCORD_API_PROXY", api);
    Running::spawn(&mut command)
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

    serve.stops_cleanly_on_sigterm();
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

    serve.stops_cleanly_on_sigterm();
}

#[test]
fn a_gateway_that_accepts_and_then_stalls_is_given_up_and_sigterm_still_stops_serve() {
    let dir = tempfile::tempdir().unwrap();
    let config = setup(dir.path());
    let (address, accepts) = silent_server();
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

    serve.stops_cleanly_on_sigterm();
}

/// Discord roles were once written into actor ids through `role_map`; that
/// config is refused before anything connects, with the lines that replace it.
#[test]
fn a_config_with_the_old_role_map_is_refused_naming_the_group_that_replaces_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = setup_with(
        dir.path(),
        "[discord.role_map]\n\"900\" = \"lead\"\n[roles]\nleads = [\"discord:1:lead:*\"]\n",
    );
    let api = FakeDiscordApi::start(&format!("ws://{}", refused_address()));
    let mut command = serving::serve_command(&["--config".as_ref(), config.as_ref()]);
    let out = command
        .env("DISCORD_TOKEN", "serve-test-token")
        .env("DISCORD_API_PROXY", &api.url)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("rushbox.toml:9: `role_map`: is gone"),
        "{said}"
    );
    assert!(said.contains("`leads = [\"group:discord:900\"]`"), "{said}");
}
