//! A Slack that runs on loopback: the Web API methods rushbox calls (axum
//! under `/api`) and a Socket Mode WebSocket (tokio-tungstenite). It records
//! every call and ack so tests can wait for what the adapter said (each
//! record wakes whoever waits: no polling). Tests can make a method fail or
//! stall, and cut the Socket Mode connections.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::{broadcast, watch};
use tokio_tungstenite::tungstenite::Message;

/// How the fake ends a Socket Mode connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// Slack's `disconnect` envelope (it sends one before it refreshes a link).
    Disconnect,
    /// A WebSocket close frame, then the TCP connection closes.
    CloseFrame,
    /// The TCP connection closes without a close frame (a proxy gave up).
    Abort,
}

/// How long anything may take on a busy machine: a failure guard, not a wait.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// One open Socket Mode connection, counted while it lives.
struct Open(Arc<watch::Sender<usize>>);

impl Open {
    fn new(open: &Arc<watch::Sender<usize>>) -> Open {
        open.send_modify(|n| *n += 1);
        Open(open.clone())
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n -= 1);
    }
}

/// What a Web API method does instead of answering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trouble {
    /// `{"ok":false,"error":code}`.
    Fails(String),
    /// No answer for a minute.
    Stalls,
}

/// One Web API call (GET parameters are in `body`), one Socket Mode ack, or
/// one `hello` (a connection opened).
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub body: Value,
    pub auth: String,
}

#[derive(Clone)]
pub struct FakeSlack {
    pub api_url: String,
    calls: Arc<Mutex<Vec<Call>>>,
    /// How many calls were recorded; every record sends.
    recorded: Arc<watch::Sender<usize>>,
    /// How many Socket Mode connections are open (subscribed to envelopes).
    open: Arc<watch::Sender<usize>>,
    envelopes: broadcast::Sender<String>,
    cuts: broadcast::Sender<Cut>,
    next_ts: Arc<Mutex<u64>>,
    /// `users.info` profiles by user id; others get their id, lowercased, as their name.
    profiles: Arc<Mutex<HashMap<String, Value>>>,
    /// `usergroups.users.list` members by user group id.
    groups: Arc<Mutex<HashMap<String, Vec<String>>>>,
    troubles: Arc<Mutex<HashMap<String, Trouble>>>,
    /// How many `chat.update` calls still get a 429 first.
    pub rate_limit_updates: Arc<Mutex<u32>>,
}

impl FakeSlack {
    pub async fn start() -> FakeSlack {
        let ws = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let ws_url = format!("ws://{}/link", ws.local_addr().unwrap());
        let api = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let api_url = format!("http://{}/api", api.local_addr().unwrap());
        let (envelopes, _) = broadcast::channel(64);
        let (cuts, _) = broadcast::channel(8);
        let fake = FakeSlack {
            api_url,
            calls: Arc::default(),
            recorded: Arc::default(),
            open: Arc::default(),
            envelopes,
            cuts,
            next_ts: Arc::new(Mutex::new(100)),
            profiles: Arc::default(),
            groups: Arc::default(),
            troubles: Arc::default(),
            rate_limit_updates: Arc::default(),
        };
        let state = (fake.clone(), ws_url);
        let app = Router::new()
            .route("/api/{method}", axum::routing::any(web_api))
            .with_state(state);
        tokio::spawn(async move { axum::serve(api, app).await.unwrap() });
        let socket = fake.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = ws.accept().await {
                let fake = socket.clone();
                tokio::spawn(async move { fake.serve_socket(stream).await });
            }
        });
        fake
    }

    async fn serve_socket(self, stream: tokio::net::TcpStream) {
        let Ok(ws) = tokio_tungstenite::accept_async(stream).await else {
            return;
        };
        let (mut tx, mut rx) = ws.split();
        let mut envelopes = self.envelopes.subscribe();
        let mut cuts = self.cuts.subscribe();
        let _open = Open::new(&self.open);
        let hello = json!({"type":"hello","num_connections":1,
            "debug_info":{"host":"fake"},"connection_info":{"app_id":"A1"}});
        if tx.send(Message::text(hello.to_string())).await.is_err() {
            return;
        }
        self.record("hello", Value::Null, "");
        loop {
            tokio::select! {
                envelope = envelopes.recv() => match envelope {
                    Ok(text) => if tx.send(Message::text(text)).await.is_err() { return },
                    Err(_) => return,
                },
                cut = cuts.recv() => match cut {
                    Ok(Cut::Disconnect) => {
                        // Slack keeps serving until the client has moved on.
                        let warning = json!({"type":"disconnect","reason":"refresh_requested",
                            "debug_info":{"host":"fake"}});
                        if tx.send(Message::text(warning.to_string())).await.is_err() { return }
                    }
                    Ok(Cut::CloseFrame) => {
                        let _ = tx.send(Message::Close(None)).await;
                        return;
                    }
                    // Dropping both halves closes the TCP stream without a close frame.
                    Ok(Cut::Abort) | Err(_) => return,
                },
                frame = rx.next() => match frame {
                    Some(Ok(Message::Text(text))) => {
                        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                        self.record("ack", body, "");
                    }
                    Some(Ok(_)) => {}
                    _ => return,
                },
            }
        }
    }

    fn record(&self, method: &str, body: Value, auth: &str) {
        let mut calls = self.calls.lock().unwrap();
        calls.push(Call {
            method: method.to_owned(),
            body,
            auth: auth.to_owned(),
        });
        self.recorded.send_replace(calls.len());
    }

    pub fn calls(&self, method: &str) -> Vec<Call> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.method == method)
            .cloned()
            .collect()
    }

    /// Sends a Socket Mode envelope to every open connection.
    pub fn push(&self, envelope: Value) {
        self.envelopes.send(envelope.to_string()).unwrap();
    }

    /// Ends every open Socket Mode connection the way `how` says.
    pub fn cut_connections(&self, how: Cut) {
        self.cuts.send(how).unwrap();
    }

    /// Waits until `count` Socket Mode connections were opened in all.
    pub async fn wait_connections(&self, count: usize) {
        self.wait_for(&format!("{count} connections"), |calls| {
            (calls.iter().filter(|c| c.method == "hello").count() >= count).then_some(())
        })
        .await
    }

    /// Waits until exactly `count` Socket Mode connections are open.
    pub async fn wait_open_connections(&self, count: usize) {
        let open = self.open.subscribe();
        self.wait_open(
            open,
            |open| open == count,
            &format!("{count} open connections"),
        )
        .await;
    }

    /// What `users.info` says of `user` (its `profile`, `name`, `real_name`…).
    pub fn set_user(&self, user: &str, fields: Value) {
        self.profiles
            .lock()
            .unwrap()
            .insert(user.to_owned(), fields);
    }

    /// Who `usergroups.users.list` says is in the user group `id`.
    pub fn set_group(&self, id: &str, users: &[&str]) {
        let users = users.iter().map(|u| (*u).to_owned()).collect();
        self.groups.lock().unwrap().insert(id.to_owned(), users);
    }

    /// Makes `method` misbehave until [`FakeSlack::recover`].
    pub fn trouble(&self, method: &str, trouble: Trouble) {
        self.troubles
            .lock()
            .unwrap()
            .insert(method.to_owned(), trouble);
    }

    pub fn recover(&self, method: &str) {
        self.troubles.lock().unwrap().remove(method);
    }

    /// Waits until `check` finds what it looks for in the calls so far
    /// (at most [`PATIENCE`], a failure guard).
    pub async fn wait_for<T>(&self, what: &str, check: impl Fn(&[Call]) -> Option<T>) -> T {
        let mut recorded = self.recorded.subscribe();
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let calls = self.calls.lock().unwrap().clone();
            if let Some(found) = check(&calls) {
                return found;
            }
            let changed = tokio::time::timeout_at(deadline, recorded.changed()).await;
            if !matches!(changed, Ok(Ok(()))) {
                panic!("timed out waiting for {what}; calls: {calls:#?}");
            }
        }
    }

    /// Waits for the latest call of `method` whose JSON contains `containing`.
    pub async fn wait_call(&self, method: &str, containing: &str) -> Call {
        self.wait_for(&format!("{method} with {containing:?}"), |calls| {
            calls
                .iter()
                .rev()
                .find(|c| c.method == method && c.body.to_string().contains(containing))
                .cloned()
        })
        .await
    }

    /// Waits until some Socket Mode connection is open (it got `hello`).
    pub async fn wait_connected(&self) {
        let open = self.open.subscribe();
        self.wait_open(open, |open| open > 0, "a Socket Mode connection")
            .await;
    }

    async fn wait_open(
        &self,
        mut open: watch::Receiver<usize>,
        done: impl Fn(usize) -> bool,
        what: &str,
    ) {
        let waited = tokio::time::timeout(PATIENCE, open.wait_for(|open| done(*open))).await;
        assert!(
            matches!(waited, Ok(Ok(_))),
            "never {what}: {} open",
            *self.open.borrow()
        );
    }

    fn ts(&self) -> String {
        let mut next = self.next_ts.lock().unwrap();
        *next += 1;
        format!("1700000000.{:06}", *next)
    }
}

async fn web_api(
    State((fake, ws_url)): State<(FakeSlack, String)>,
    Path(method): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body: Value = match serde_json::from_slice(&body) {
        Ok(body) => body,
        // A GET: its parameters are the body.
        Err(_) => json!(query),
    };
    let trouble = fake.troubles.lock().unwrap().get(&method).cloned();
    match trouble {
        Some(Trouble::Fails(code)) => {
            fake.record(&method, body, &auth);
            return axum::Json(json!({"ok":false,"error":code})).into_response();
        }
        Some(Trouble::Stalls) => {
            fake.record(&method, body, &auth);
            tokio::time::sleep(Duration::from_secs(60)).await;
            return axum::Json(json!({"ok":false,"error":"too_late"})).into_response();
        }
        None => {}
    }
    if method == "chat.update" {
        let mut limited = fake.rate_limit_updates.lock().unwrap();
        if *limited > 0 {
            *limited -= 1;
            fake.record("429", body, &auth);
            return (
                axum::http::StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", "1"), ("content-type", "application/json")],
                json!({"ok":false,"error":"ratelimited"}).to_string(),
            )
                .into_response();
        }
    }
    fake.record(&method, body.clone(), &auth);
    let answer = match method.as_str() {
        "auth.test" => json!({"ok":true,"user_id":"UBOT","team_id":"T1","team":"Team",
            "bot_id":"B1","url":"https://team.slack.com/"}),
        "apps.connections.open" => json!({"ok":true,"url":ws_url}),
        // A channel rushbox was not invited to.
        "chat.postMessage" if body["channel"] == "CNOPE" => {
            json!({"ok":false,"error":"not_in_channel"})
        }
        "respond" => json!({"ok":true}),
        "chat.postMessage" => {
            let ts = fake.ts();
            json!({"ok":true,"channel":body["channel"],"ts":ts,"message":{"ts":ts,"text":""}})
        }
        "chat.update" => json!({"ok":true,"channel":body["channel"],"ts":body["ts"],
            "message":{"text":""}}),
        "chat.postEphemeral" => json!({"ok":true,"message_ts":fake.ts()}),
        "users.info" => {
            let id = body["user"].as_str().unwrap_or("");
            let mut user = json!({"id": id, "team_id": "T1", "name": id.to_lowercase()});
            if let (Some(user), Some(Value::Object(fields))) =
                (user.as_object_mut(), fake.profiles.lock().unwrap().get(id))
            {
                user.extend(fields.clone());
            }
            json!({"ok":true,"user":user})
        }
        "conversations.open" => {
            // slack-morphism sends `users` as a JSON array; Slack also takes "U1,U2".
            let user = match &body["users"] {
                Value::Array(users) => users.first().and_then(Value::as_str).unwrap_or("U"),
                Value::String(users) => users.split(',').next().unwrap_or("U"),
                _ => "U",
            };
            json!({"ok":true,"channel":{"id":format!("D{user}")}})
        }
        "usergroups.users.list" => {
            let id = body["usergroup"].as_str().unwrap_or("");
            match fake.groups.lock().unwrap().get(id) {
                Some(users) => json!({"ok":true,"users":users}),
                None => json!({"ok":false,"error":"no_such_subteam"}),
            }
        }
        _ => json!({"ok":false,"error":"unknown_method"}),
    };
    axum::Json(answer).into_response()
}
