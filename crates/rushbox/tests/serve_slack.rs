//! `rushbox serve` with `[slack]` while Slack's Web API can't be reached:
//! the real binary, a real git repository and store, and the Web API
//! nowhere (refused) or on a server that accepts and then says nothing.
//! rushbox must say that Slack is down and when it tries again, and still
//! stop within seconds on SIGTERM.

mod common;
mod serving;

use std::path::{Path, PathBuf};

use serving::{PATIENCE, Running, refused_address, silent_server};

/// A repository to deploy and a config for `rushbox serve` on Slack in `mode`.
fn setup(dir: &Path, mode: &str) -> PathBuf {
    let http = if mode == "http" {
        "[http]\nlisten = \"127.0.0.1:0\"\n"
    } else {
        ""
    };
    common::shop_config(
        dir,
        common::NOOP,
        &format!(
            "[roles]\nleads = [\"slack:T1:ULEAD\"]\ndevelopers = [\"slack:T1:*\"]\n\
             [slack]\nmode = \"{mode}\"\n{http}"
        ),
    )
}

/// `rushbox serve` with Slack's Web API at `api`, every token set.
fn serve(config: &Path, api: &str) -> Running {
    let mut command = serving::serve_command(&["--config".as_ref(), config.as_ref()]);
    command
        .env("SLACK_API_URL", api)
        .env("SLACK_BOT_TOKEN", "xoxb-serve-test")
        .env("SLACK_APP_TOKEN", "xapp-serve-test")
        .env("SLACK_SIGNING_SECRET", "serve-test-signing-secret");
    Running::spawn(&mut command)
}

#[test]
fn socket_mode_with_slack_refusing_connections_says_so_retries_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let config = setup(dir.path(), "socket_mode");
    let api = format!("http://{}/api", refused_address());
    let mut serve = serve(&config, &api);

    let first = serve.wait_for_line("slack: can't reach Slack's Web API at");
    assert!(first.contains(&format!("at {api}: ")), "{first}");
    assert!(first.contains("refused"), "says why: {first}");
    assert!(
        first.ends_with("; retrying in 5s, then 10s, 20s … up to 5m"),
        "{first}"
    );
    serve.wait_for_line("retrying in 10s, then 20s, 40s … up to 5m");
    let said = serve.stderr();
    assert!(!said.contains("xoxb-serve-test") && !said.contains("xapp-serve-test"));

    serve.stops_cleanly_on_sigterm();
}

#[test]
fn the_events_api_with_a_web_api_that_stalls_is_given_up_and_sigterm_still_stops_serve() {
    let dir = tempfile::tempdir().unwrap();
    let config = setup(dir.path(), "http");
    let (address, accepts) = silent_server();
    let api = format!("http://{address}/api");
    let mut serve = serve(&config, &api);

    accepts
        .recv_timeout(PATIENCE)
        .expect("rushbox calls auth.test");
    let line = serve.wait_for_line("slack: can't reach Slack's Web API at");
    assert_eq!(
        line,
        format!(
            "slack: can't reach Slack's Web API at {api}: no answer within 10s; \
             retrying in 5s, then 10s, 20s … up to 5m"
        )
    );
    // The next attempt stalls as well: SIGTERM arrives in the middle of it.
    accepts.recv_timeout(PATIENCE).expect("rushbox tries again");

    serve.stops_cleanly_on_sigterm();
}
