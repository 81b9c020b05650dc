//! `rushbox serve` with Slack's Events API over HTTP, end to end: the real
//! binary and its webhook server on loopback, a real git repository and
//! store, and Slack's Web API faked on loopback (axum), recording what
//! rushbox says. Requests are signed here the way Slack signs them.

mod common;
mod serving;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::has;
use serving::{PATIENCE, Running};

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

const SECRET: &str = "serve-test-signing-secret-0123456789";
const BOT_TOKEN: &str = "xoxb-serve-test-token";

/// One Web API call rushbox made.
#[derive(Debug, Clone)]
struct Call {
    method: String,
    body: Value,
}

/// Slack's Web API on loopback: answers the methods rushbox calls, as
/// workspace T1 whose bot user is UBOT, and records every call.
struct FakeWebApi {
    url: String,
    calls: Calls,
    _runtime: tokio::runtime::Runtime,
}

/// The calls so far; each new one wakes whoever waits.
type Calls = Arc<(Mutex<Vec<Call>>, Condvar)>;

#[derive(Clone, Default)]
struct Recorder {
    calls: Calls,
    next_ts: Arc<AtomicU64>,
}

impl FakeWebApi {
    fn start() -> FakeWebApi {
        let recorder = Recorder::default();
        let calls = recorder.calls.clone();
        let app = axum::Router::new()
            .route("/api/{method}", axum::routing::any(web_api))
            .with_state(recorder);
        let (address, runtime) = serving::on_loopback(app);
        FakeWebApi {
            url: format!("http://{address}/api"),
            calls,
            _runtime: runtime,
        }
    }

    fn calls(&self, method: &str) -> Vec<Call> {
        let calls = self.calls.0.lock().unwrap();
        calls
            .iter()
            .filter(|c| c.method == method)
            .cloned()
            .collect()
    }

    /// The first call `found` accepts, waiting for it.
    fn wait_for(&self, what: &str, found: impl Fn(&Call) -> bool) -> Call {
        let deadline = Instant::now() + PATIENCE;
        let (calls, recorded) = &*self.calls;
        let mut calls = calls.lock().unwrap();
        loop {
            if let Some(call) = calls.iter().find(|c| found(c)) {
                return call.clone();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "no {what}; calls: {calls:#?}");
            calls = recorded.wait_timeout(calls, left).unwrap().0;
        }
    }
}

async fn web_api(
    axum::extract::State(recorder): axum::extract::State<Recorder>,
    axum::extract::Path(method): axum::extract::Path<String>,
    body: axum::body::Bytes,
) -> axum::Json<Value> {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let (calls, recorded) = &*recorder.calls;
    calls.lock().unwrap().push(Call {
        method: method.clone(),
        body: body.clone(),
    });
    recorded.notify_all();
    let ts = format!(
        "1700000001.{:06}",
        recorder.next_ts.fetch_add(1, Ordering::SeqCst)
    );
    axum::Json(match method.as_str() {
        "auth.test" => json!({"ok": true, "user_id": "UBOT", "team_id": "T1", "team": "Team",
            "bot_id": "B1", "url": "https://team.slack.com/"}),
        "chat.postMessage" => json!({"ok": true, "channel": body["channel"], "ts": ts,
            "message": {"ts": ts, "text": ""}}),
        "chat.update" => json!({"ok": true, "channel": body["channel"], "ts": body["ts"],
            "message": {"text": ""}}),
        "conversations.open" => {
            let user = body["users"][0].as_str().unwrap_or("U");
            json!({"ok": true, "channel": {"id": format!("D{user}")}})
        }
        _ => json!({"ok": false, "error": "unknown_method"}),
    })
}

/// A repository to deploy and a config for `rushbox serve` on Slack over
/// HTTP, the webhook server on `listen`; returns the config's path.
fn setup(dir: &Path, provider: &str, listen: &str) -> PathBuf {
    common::shop_config(
        dir,
        provider,
        &format!(
            "[roles]\nleads = [\"slack:T1:ULEAD\"]\ndevelopers = [\"slack:T1:*\"]\n\
             [slack]\nmode = \"http\"\n[http]\nlisten = \"{listen}\"\n"
        ),
    )
}

fn serve_command(config: &Path, api: &FakeWebApi) -> Command {
    let mut command = serving::serve_command(&["--config".as_ref(), config.as_ref()]);
    command
        .env("SLACK_API_URL", &api.url)
        .env("SLACK_BOT_TOKEN", BOT_TOKEN)
        .env("SLACK_SIGNING_SECRET", SECRET)
        // The adapter's debug lines say when it drops a redelivery.
        .env("RUST_LOG", "warn,rushbox=info,rushbox_slack=debug");
    command
}

/// `rushbox serve` on Slack over HTTP, running.
struct Serve {
    process: Running,
    /// Where its webhook server listens, from its start-up line.
    address: SocketAddr,
}

impl Serve {
    fn start(config: &Path, api: &FakeWebApi) -> Serve {
        let mut process = Running::spawn(&mut serve_command(config, api));
        let line = process.wait_for_line("rushbox: Slack Events API at http://");
        let address = line
            .split("http://")
            .nth(1)
            .and_then(|rest| rest.split("/slack/events").next())
            .and_then(|address| address.parse().ok())
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        Serve { process, address }
    }

    fn stderr(&self) -> String {
        self.process.stderr()
    }

    fn wait_for_line(&mut self, needle: &str) -> String {
        self.process.wait_for_line(needle)
    }

    /// One HTTP/1.1 request to the webhook server: (status, body).
    fn request(&self, head: &str, headers: &[(&str, String)], body: &str) -> (u16, String) {
        let mut stream = TcpStream::connect(self.address).unwrap();
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        let mut request = format!(
            "{head} HTTP/1.1\r\nHost: rushbox.example\r\nConnection: close\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        request.push_str(body);
        stream.write_all(request.as_bytes()).unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let status = response
            .get(9..12)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("not HTTP: {response:?}"));
        let body = response
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        (status, body)
    }

    /// A JSON event to `/slack/events`, signed with `secret` now.
    fn event_signed_with(&self, secret: &str, body: &str) -> (u16, String) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let headers = [
            ("Content-Type", "application/json".to_owned()),
            ("X-Slack-Request-Timestamp", now.to_string()),
            ("X-Slack-Signature", signature(secret, now, body)),
        ];
        self.request("POST /slack/events", &headers, body)
    }

    /// A JSON event signed as Slack signs it.
    fn event(&self, body: &str) -> (u16, String) {
        self.event_signed_with(SECRET, body)
    }

    /// SIGTERM, as a service manager stops it; the exit status.
    fn terminate(self) -> ExitStatus {
        self.process.terminate_within(PATIENCE).0
    }
}

/// Slack's v0 signature: HMAC-SHA256 of `v0:{timestamp}:{body}`, in hex.
fn signature(secret: &str, timestamp: u64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("v0:{timestamp}:{body}").as_bytes());
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("v0={hex}")
}

/// `<@UBOT> {text}` from U1 in channel C1, as Slack's Events API sends it.
fn mention(event_id: &str, text: &str) -> String {
    json!({"type": "event_callback", "team_id": "T1", "api_app_id": "A1", "event_id": event_id,
        "event_time": 1700000000, "event": {"type": "app_mention", "user": "U1", "channel": "C1",
            "text": format!("<@UBOT> {text}"), "ts": "1700000000.000100",
            "event_ts": "1700000000.000100"}})
    .to_string()
}

#[test]
fn slack_reaches_rushbox_serve_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let config = setup(dir.path(), common::NOOP, "127.0.0.1:0");
    let api = FakeWebApi::start();
    let mut serve = Serve::start(&config, &api);
    assert!(!serve.stderr().contains("(the default"), "[http] is set");

    let (status, _) = serve.request("GET /healthz", &[], "");
    assert_eq!(status, 200);

    // Slack's first request when the Request URL is saved.
    let challenge = json!({"type": "url_verification", "token": "t", "challenge": "c-4711"});
    assert_eq!(
        serve.event(&challenge.to_string()),
        (200, "c-4711".to_owned())
    );

    // A mention: answered in its thread, in Block Kit, then the operation runs to its end.
    let (status, _) = serve.event(&mention("Ev1", "deploy branch foo to dev"));
    assert_eq!(status, 200);
    let answer = api.wait_for("answer to the deploy", |c| c.method == "chat.postMessage");
    assert_eq!(answer.body["channel"], "C1");
    assert_eq!(answer.body["thread_ts"], "1700000000.000100");
    let blocks = answer.body["blocks"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(!blocks.is_empty(), "{:#}", answer.body);
    has(&answer.body.to_string(), "dev-foo");
    api.wait_for("the end of the deploy", |c| {
        c.method == "chat.update" && c.body.to_string().contains("is recorded")
    });
    let said = api.calls("chat.postMessage").len();

    // Signed with another secret: refused before it is read, nothing runs.
    let forged = mention("Ev2", "destroy dev-foo");
    let (status, answer) = serve.event_signed_with("not-the-signing-secret", &forged);
    assert_eq!(status, 401, "{answer}");

    // Slack delivering one event twice (a retry): answered once.
    let asked = mention("Ev3", "which environments are running");
    assert_eq!(serve.event(&asked).0, 200);
    assert_eq!(serve.event(&asked).0, 200);
    let list = api.wait_for("the list of envs", |c| {
        c.method == "chat.postMessage" && c.body.to_string().contains("environment(s)")
    });
    has(&list.body.to_string(), "dev-foo");
    // The second delivery was dropped before the 200 that answered it.
    let dropped = serve.wait_for_line("slack: dropped a redelivery");
    has(&dropped, "delivery=event:Ev3");
    assert_eq!(
        api.calls("chat.postMessage").len(),
        said + 1,
        "one answer to the repeated event, none to the forged one: {:#?}",
        api.calls("chat.postMessage")
    );

    let log = serve.stderr();
    has(
        &log,
        "slack: rejected a request path=/slack/events reason=signature does not match",
    );
    assert!(!log.contains(SECRET), "{log}");
    assert!(!log.contains(BOT_TOKEN), "{log}");
    assert!(!log.contains("v0="), "{log}");
    let status = serve.terminate();
    assert!(status.success(), "{status}");
}

#[test]
fn an_operation_a_crash_cut_short_is_told_by_dm_at_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = setup(
        dir.path(),
        &common::slow_provider(dir.path()),
        "127.0.0.1:0",
    );
    let api = FakeWebApi::start();
    let mut first = Serve::start(&config, &api);
    assert_eq!(
        first.event(&mention("Ev1", "deploy branch foo to dev")).0,
        200
    );
    // The create script is running: kill rushbox without warning.
    let start = Instant::now();
    while !dir.path().join("pid").exists() {
        assert!(
            start.elapsed() < PATIENCE,
            "the create never started:\n{}",
            first.stderr()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    first.process.child.kill().unwrap();
    first.process.child.wait().unwrap();

    let mut second = Serve::start(&config, &api);
    second.wait_for_line("rushbox: for slack:T1:U1: rushbox restarted while operation #1");
    let dm = api.wait_for("the DM to U1", |c| {
        c.method == "chat.postMessage" && c.body["channel"] == "DU1"
    });
    has(
        &dm.body.to_string(),
        "rushbox restarted while operation #1 (create of `dev-foo`) was running",
    );
    let opened = api.calls("conversations.open");
    assert_eq!(opened.len(), 1, "{opened:#?}");
    assert_eq!(opened[0].body["users"], json!(["U1"]));
    assert!(second.terminate().success());
}

#[test]
fn a_taken_address_stops_serve_saying_which_key_to_change() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let config = setup(dir.path(), common::NOOP, &address);
    let api = FakeWebApi::start();
    let out = serve_command(&config, &api).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    has(&err, &format!("can't listen on {address}"));
    has(&err, "set `[http] listen` to a free address");
    assert!(api.calls("auth.test").is_empty(), "nothing connects first");
}
