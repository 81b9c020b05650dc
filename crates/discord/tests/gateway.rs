//! End to end: the real serenity client against a local Discord — REST
//! under `/api/v10` (axum) and a gateway (tokio-tungstenite) that says
//! Hello, takes Identify, sends READY and then whatever a test dispatches.
//! A real Robot with a sled store in a temporary directory answers.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use rushbox_chat::{Actor, Button, Incoming, Notice, Reply, Robot, Tone};
use rushbox_discord::{DiscordConfig, MappedRole, run_with_token};
use rushbox_pipeline::config::{PipelineConfig, RolesConfig};
use rushbox_pipeline::engine::ManualClock;
use rushbox_pipeline::{Engine, FixedRefs, NoopProvider};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message as Frame;

const BOT: &str = "42";
const APP: &str = "77";
const GUILD: &str = "1";
const CHANNEL: &str = "500";
/// Lena has the Discord role mapped to lead; Dave the one mapped to developer.
const LENA: &str = "10";
const DAVE: &str = "11";
const LEAD_ROLE: &str = "900";
const DEV_ROLE: &str = "901";

/// One REST call the bot made.
#[derive(Debug, Clone)]
struct Call {
    method: Method,
    path: String,
    body: Value,
}

#[derive(Clone)]
struct Rest {
    calls: Arc<Mutex<Vec<Call>>>,
    gateway_url: String,
    next_id: Arc<Mutex<u64>>,
    /// Interaction tokens have run out (as they do after 15 minutes).
    expired: Arc<std::sync::atomic::AtomicBool>,
}

async fn rest(State(rest): State<Rest>, method: Method, uri: Uri, body: Bytes) -> Response {
    let path = uri.path().to_owned();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    rest.calls.lock().unwrap().push(Call {
        method: method.clone(),
        path: path.clone(),
        body: body.clone(),
    });
    if path == "/api/v10/gateway" {
        return axum::Json(json!({ "url": rest.gateway_url })).into_response();
    }
    if path.ends_with("/commands") {
        return axum::Json(json!([])).into_response();
    }
    if rest.expired.load(std::sync::atomic::Ordering::SeqCst)
        && path.starts_with("/api/v10/webhooks/")
        && method == Method::PATCH
    {
        let unknown = json!({ "code": 50027, "message": "Invalid Webhook Token" });
        return (StatusCode::UNAUTHORIZED, axum::Json(unknown)).into_response();
    }
    if path == "/api/v10/users/@me/channels" {
        let recipient = body["recipient_id"].as_str().unwrap_or("0");
        return axum::Json(json!({
            "id": format!("6{recipient}"), "type": 1, "last_message_id": null,
            "recipients": [{ "id": recipient, "username": "someone", "discriminator": "0", "avatar": null }],
        }))
        .into_response();
    }
    if path.ends_with("/callback") || method == Method::DELETE {
        return StatusCode::NO_CONTENT.into_response();
    }
    let id = {
        let mut next = rest.next_id.lock().unwrap();
        *next += 1;
        *next
    };
    let channel = path
        .strip_prefix("/api/v10/channels/")
        .and_then(|p| p.split('/').next())
        .unwrap_or(CHANNEL);
    let mut sent = message(&id.to_string(), channel, BOT, "rushbox", "");
    sent["author"]["bot"] = json!(true);
    axum::Json(sent).into_response()
}

/// Discord's REST API on loopback; its base URL.
async fn serve_rest(state: Rest) -> String {
    let http = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api = format!("http://{}", http.local_addr().unwrap());
    let app = Router::new().fallback(rest).with_state(state);
    tokio::spawn(async move { axum::serve(http, app).await.unwrap() });
    api
}

fn message(id: &str, channel: &str, author: &str, name: &str, content: &str) -> Value {
    json!({
        "id": id, "channel_id": channel,
        "author": { "id": author, "username": name, "discriminator": "0", "avatar": null },
        "content": content,
        "timestamp": "2026-11-26T22:00:00.000000+00:00", "edited_timestamp": null,
        "tts": false, "mention_everyone": false, "mentions": [], "mention_roles": [],
        "attachments": [], "embeds": [], "pinned": false, "type": 0,
    })
}

fn member(user: &str, name: &str, role: &str) -> Value {
    json!({
        "user": { "id": user, "username": name, "discriminator": "0", "avatar": null },
        "roles": [role], "joined_at": "2026-01-01T00:00:00.000000+00:00",
        "deaf": false, "mute": false, "flags": 0,
    })
}

/// The local Discord and the bot connected to it.
struct Discord {
    calls: Arc<Mutex<Vec<Call>>>,
    dispatch: mpsc::UnboundedSender<(String, Value)>,
    expired: Arc<std::sync::atomic::AtomicBool>,
    robot: Robot,
    _stop: oneshot::Sender<()>,
    _dir: tempfile::TempDir,
}

impl Discord {
    /// The bot registering its commands in [`GUILD`].
    async fn start() -> Discord {
        Discord::start_in(Some(GUILD.parse().unwrap())).await
    }

    /// The bot registering its commands in `guild`, or globally.
    async fn start_in(guild: Option<u64>) -> Discord {
        let ws = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let gateway_url = format!("ws://{}", ws.local_addr().unwrap());
        let (dispatch, dispatches) = mpsc::unbounded_channel();
        tokio::spawn(gateway(ws, gateway_url.clone(), dispatches));
        let discord = Discord::launch(guild, gateway_url, dispatch).await;
        // READY has been handled once the commands are registered.
        discord
            .wait_for("command registration", |c| c.path.ends_with("/commands"))
            .await;
        discord
    }

    /// The local REST API, saying the gateway is at `gateway_url`, and the
    /// bot started against it (not waiting for it to connect).
    async fn launch(
        guild: Option<u64>,
        gateway_url: String,
        dispatch: mpsc::UnboundedSender<(String, Value)>,
    ) -> Discord {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let expired = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let state = Rest {
            calls: calls.clone(),
            gateway_url,
            next_id: Arc::new(Mutex::new(1000)),
            expired: expired.clone(),
        };
        let api = serve_rest(state).await;

        let dir = tempfile::tempdir().unwrap();
        let pipeline = PipelineConfig {
            roles: RolesConfig {
                leads: vec![format!("discord:{GUILD}:lead:*")],
                developers: vec![format!("discord:{GUILD}:*")],
            },
            ..PipelineConfig::default()
        };
        let refs = FixedRefs::new([
            ("main", "1111111111111111111111111111111111111111"),
            ("foo", "f00f00f00f00f00f00f00f00f00f00f00f00f00f"),
        ]);
        let engine = Engine::open_with_clock(
            pipeline,
            dir.path(),
            Arc::new(NoopProvider::new()),
            Arc::new(refs),
            Arc::new(ManualClock::new(1_800_000_000)),
        )
        .unwrap();
        let robot = Robot::new(engine);

        let mut config = DiscordConfig {
            api_proxy: Some(api),
            guild_id: guild,
            ..DiscordConfig::default()
        };
        config
            .role_map
            .insert(LEAD_ROLE.to_owned(), MappedRole::Lead);
        config
            .role_map
            .insert(DEV_ROLE.to_owned(), MappedRole::Developer);
        let (stop, stopped) = oneshot::channel::<()>();
        let bot = robot.clone();
        tokio::spawn(async move {
            let shutdown = async move {
                let _ = stopped.await;
            };
            if let Err(e) = run_with_token(config, bot, "test-token", shutdown).await {
                eprintln!("bot stopped: {e}");
            }
        });
        Discord {
            calls,
            dispatch,
            expired,
            robot,
            _stop: stop,
            _dir: dir,
        }
    }

    fn send(&self, event: &str, data: Value) {
        self.dispatch.send((event.to_owned(), data)).unwrap();
    }

    /// The first call (in order) that matches, waiting up to 10 s for it.
    async fn wait_for(&self, what: &str, matches: impl Fn(&Call) -> bool) -> Call {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(call) = self.calls.lock().unwrap().iter().find(|c| matches(c)) {
                return call.clone();
            }
            if tokio::time::Instant::now() > deadline {
                panic!("no {what}; calls: {:#?}", self.calls.lock().unwrap());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn calls(&self, matches: impl Fn(&Call) -> bool) -> Vec<Call> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|c| matches(c))
            .cloned()
            .collect()
    }

    fn command(&self, id: &str, user: &str, name: &str, command: &str, options: Value) {
        self.send(
            "INTERACTION_CREATE",
            json!({
                "id": id, "application_id": APP, "type": 2, "token": format!("tok-{id}"),
                "version": 1, "locale": "en-US", "entitlements": [], "attachment_size_limit": 8388608,
                "guild_id": GUILD, "channel_id": CHANNEL,
                "member": member(user, name, if user == LENA { LEAD_ROLE } else { DEV_ROLE }),
                "data": { "id": "3000", "name": command, "type": 1, "options": options },
            }),
        );
    }

    fn click(&self, id: &str, user: &str, name: &str, custom_id: &str) {
        self.send(
            "INTERACTION_CREATE",
            json!({
                "id": id, "application_id": APP, "type": 3, "token": format!("tok-{id}"),
                "version": 1, "locale": "en-US", "entitlements": [], "attachment_size_limit": 8388608,
                "guild_id": GUILD, "channel_id": CHANNEL,
                "member": member(user, name, if user == LENA { LEAD_ROLE } else { DEV_ROLE }),
                "message": message("999", CHANNEL, BOT, "rushbox", ""),
                "data": { "custom_id": custom_id, "component_type": 2 },
            }),
        );
    }
}

/// The gateway: one connection at a time (rushbox opens one to see that
/// the gateway answers, then its client opens the session).
async fn gateway(
    listener: TcpListener,
    url: String,
    mut dispatches: mpsc::UnboundedReceiver<(String, Value)>,
) {
    while let Ok((stream, _)) = listener.accept().await {
        if session(stream, &url, &mut dispatches).await == Ended::NoMoreDispatches {
            return;
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Ended {
    ConnectionClosed,
    NoMoreDispatches,
}

/// One gateway session: Hello, Identify, READY, then the dispatches.
async fn session(
    stream: tokio::net::TcpStream,
    url: &str,
    dispatches: &mut mpsc::UnboundedReceiver<(String, Value)>,
) -> Ended {
    let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
        return Ended::ConnectionClosed;
    };
    let hello = json!({ "op": 10, "d": { "heartbeat_interval": 45000 } });
    if ws.send(Frame::text(hello.to_string())).await.is_err() {
        return Ended::ConnectionClosed;
    }
    loop {
        let Some(Ok(Frame::Text(text))) = ws.next().await else {
            return Ended::ConnectionClosed;
        };
        let frame: Value = serde_json::from_str(text.as_str()).unwrap();
        if frame["op"] == 2 {
            break;
        }
    }
    let mut seq = 1;
    let ready = json!({ "op": 0, "s": seq, "t": "READY", "d": {
        "v": 10, "user": { "id": BOT, "username": "rushbox", "discriminator": "0", "avatar": null, "bot": true },
        "guilds": [], "session_id": "session", "resume_gateway_url": url,
        "application": { "id": APP, "flags": 0 },
    }});
    if ws.send(Frame::text(ready.to_string())).await.is_err() {
        return Ended::ConnectionClosed;
    }
    loop {
        tokio::select! {
            event = dispatches.recv() => {
                let Some((name, data)) = event else { return Ended::NoMoreDispatches };
                seq += 1;
                let frame = json!({ "op": 0, "s": seq, "t": name, "d": data });
                if ws.send(Frame::text(frame.to_string())).await.is_err() {
                    return Ended::ConnectionClosed;
                }
            }
            frame = ws.next() => match frame {
                Some(Ok(Frame::Text(text))) => {
                    let frame: Value = serde_json::from_str(text.as_str()).unwrap_or(Value::Null);
                    if frame["op"] == 1 {
                        let ack = json!({ "op": 11 });
                        let _ = ws.send(Frame::text(ack.to_string())).await;
                    }
                }
                Some(Ok(_)) => {}
                _ => return Ended::ConnectionClosed,
            }
        }
    }
}

fn description(call: &Call) -> String {
    call.body["embeds"][0]["description"]
        .as_str()
        .unwrap_or("")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn registration_sends_the_slash_command_definitions_to_the_guild() {
    let discord = Discord::start().await;
    let put = discord
        .wait_for("registration", |c| c.path.ends_with("/commands"))
        .await;
    assert_eq!(put.method, Method::PUT);
    assert_eq!(
        put.path,
        format!("/api/v10/applications/{APP}/guilds/{GUILD}/commands")
    );
    let names: Vec<&str> = put
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "deploy", "promote", "envs", "status", "lock", "unlock", "queue", "destroy",
            "rollback", "history", "rushbox"
        ]
    );
    assert_eq!(
        put.body[0],
        json!({
            "name": "deploy", "name_localizations": {},
            "description": "Deploy a branch, tag or commit to an env", "description_localizations": {},
            "nsfw": false,
            "options": [
                {
                    "type": 3, "name": "ref", "description": "Branch, tag or commit",
                    "required": true, "autocomplete": true,
                    "channel_types": [], "choices": [], "options": [],
                    "max_length": null, "max_value": null, "min_length": null, "min_value": null,
                },
                {
                    "type": 3, "name": "target", "description": "Where: dev, staging, prod or an env name",
                    "required": true, "autocomplete": true,
                    "channel_types": [], "choices": [], "options": [],
                    "max_length": null, "max_value": null, "min_length": null, "min_value": null,
                },
            ],
        })
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_guild_the_commands_are_registered_globally() {
    let discord = Discord::start_in(None).await;
    let put = discord
        .wait_for("registration", |c| c.path.ends_with("/commands"))
        .await;
    assert_eq!(put.method, Method::PUT);
    assert_eq!(put.path, format!("/api/v10/applications/{APP}/commands"));
    assert_eq!(put.body.as_array().unwrap().len(), 11);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mention_becomes_a_command_and_a_reply_in_the_channel() {
    let discord = Discord::start().await;
    let mut said = message(
        "2001",
        CHANNEL,
        DAVE,
        "dave",
        &format!("<@{BOT}> deploy foo to dev"),
    );
    said["guild_id"] = json!(GUILD);
    said["member"] =
        json!({ "roles": [DEV_ROLE], "deaf": false, "mute": false, "joined_at": null });
    discord.send("MESSAGE_CREATE", said);

    let reply = discord
        .wait_for("a reply", |c| {
            c.method == Method::POST && c.path == format!("/api/v10/channels/{CHANNEL}/messages")
        })
        .await;
    assert_eq!(reply.body["message_reference"]["message_id"], json!("2001"));
    assert_eq!(
        reply.body["embeds"][0]["color"],
        json!(0x57F287),
        "{:?}",
        reply.body
    );
    // The same message is then edited to the end of the operation.
    let done = discord
        .wait_for("the final edit", |c| {
            c.method == Method::PATCH && description(c).contains("`dev-foo` is ready")
        })
        .await;
    assert!(
        done.path
            .starts_with(&format!("/api/v10/channels/{CHANNEL}/messages/"))
    );

    // Someone else's bot, and messages not for us, are ignored.
    let mut other = message(
        "2002",
        CHANNEL,
        "77777",
        "otherbot",
        &format!("<@{BOT}> envs"),
    );
    other["author"]["bot"] = json!(true);
    discord.send("MESSAGE_CREATE", other);
    let mut not_for_us = message("2003", CHANNEL, DAVE, "dave", "envs");
    not_for_us["guild_id"] = json!(GUILD);
    discord.send("MESSAGE_CREATE", not_for_us);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let replies = discord.calls(|c| c.method == Method::POST && c.path.ends_with("/messages"));
    assert_eq!(replies.len(), 1, "{replies:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slash_command_is_deferred_then_edited_to_its_final_state() {
    let discord = Discord::start().await;
    discord.command(
        "4001",
        DAVE,
        "dave",
        "deploy",
        json!([{ "name": "ref", "type": 3, "value": "foo" }, { "name": "target", "type": 3, "value": "dev" }]),
    );
    let deferred = discord
        .wait_for("the deferral", |c| {
            c.path.ends_with("/interactions/4001/tok-4001/callback")
        })
        .await;
    assert_eq!(deferred.body["type"], json!(5), "deferred channel message");
    let original = format!("/api/v10/webhooks/{APP}/tok-4001/messages/@original");
    discord
        .wait_for("the final state", |c| {
            c.method == Method::PATCH
                && c.path == original
                && description(c).contains("`dev-foo` is ready")
        })
        .await;
    let callbacks = discord.calls(|c| c.path.ends_with("/callback"));
    assert_eq!(callbacks.len(), 1, "an interaction is answered once");
}

/// A lead deploys to staging first, so there is something to promote.
async fn staging_has_foo(robot: &Robot) {
    let incoming = Incoming {
        actor: Actor::new(&format!("discord:{GUILD}:lead"), LENA, "lena"),
        channel: CHANNEL.to_owned(),
        text: "deploy foo to staging".to_owned(),
        reply_to: None,
    };
    let robot = robot.clone();
    let answer = tokio::task::spawn_blocking(move || robot.handle(&incoming))
        .await
        .unwrap();
    assert!(!answer.progress.is_empty(), "{}", answer.reply);
    for mut feed in answer.progress {
        while feed.next().await.is_some() {}
    }
}

/// Edits of the message whose button was clicked (the interaction's original
/// message for a component, or the channel message itself).
fn edits_of_clicked(discord: &Discord, token: &str) -> Vec<Call> {
    let original = format!("/api/v10/webhooks/{APP}/{token}/messages/@original");
    let message = format!("/api/v10/channels/{CHANNEL}/messages/999");
    discord.calls(|c| c.method != Method::POST && (c.path == original || c.path == message))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_click_is_told_to_the_clicker_alone_and_leaves_the_button_for_a_lead() {
    let discord = Discord::start().await;
    staging_has_foo(&discord.robot).await;

    discord.click("5001", DAVE, "dave", "run:promote staging to prod");
    let ack = discord
        .wait_for("dave's ack", |c| {
            c.path.ends_with("/interactions/5001/tok-5001/callback")
        })
        .await;
    assert_eq!(ack.body["type"], json!(6), "deferred update");
    let refusal = discord
        .wait_for("dave's refusal", |c| {
            c.method == Method::POST && c.path == format!("/api/v10/webhooks/{APP}/tok-5001")
        })
        .await;
    assert_eq!(refusal.body["flags"], json!(64), "only dave sees it");
    assert!(description(&refusal).contains("lead"), "{:?}", refusal.body);
    // The clicked message is edited before the answer goes out, if at all.
    let edits = edits_of_clicked(&discord, "tok-5001");
    assert!(edits.is_empty(), "the button stays for a lead: {edits:#?}");

    discord.click("5002", LENA, "lena", "run:promote staging to prod");
    let promoted = discord
        .wait_for("lena's answer", |c| {
            c.method == Method::POST && c.path == format!("/api/v10/webhooks/{APP}/tok-5002")
        })
        .await;
    assert!(
        promoted.body.get("flags").is_none_or(|f| f == &json!(0)),
        "{:?}",
        promoted.body
    );
    assert_eq!(
        promoted.body["embeds"][0]["color"],
        json!(0x57F287),
        "{:?}",
        promoted.body
    );
    let edits = edits_of_clicked(&discord, "tok-5002");
    assert_eq!(
        edits.len(),
        1,
        "granted: the buttons go for everyone: {edits:#?}"
    );
    assert_eq!(edits[0].method, Method::PATCH);
    assert_eq!(
        edits[0].body["components"],
        json!([]),
        "{:?}",
        edits[0].body
    );
    assert!(
        edits[0].body.get("embeds").is_none(),
        "the text stays: {:?}",
        edits[0].body
    );
    discord
        .wait_for("prod ready", |c| {
            c.method == Method::PATCH
                && c.path
                    .starts_with(&format!("/api/v10/webhooks/{APP}/tok-5002/messages/"))
                && description(c).contains("`prod` is ready")
        })
        .await;
    assert!(edits_of_clicked(&discord, "tok-5001").is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_gateway_that_is_down_at_start_is_tried_again_until_it_answers() {
    // A port nothing listens on, yet.
    let address = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let gateway_url = format!("ws://{address}");
    let (dispatch, dispatches) = mpsc::unbounded_channel();
    let discord =
        Discord::launch(Some(GUILD.parse().unwrap()), gateway_url.clone(), dispatch).await;
    discord
        .wait_for("the first lookup of the gateway", |c| {
            c.path == "/api/v10/gateway"
        })
        .await;
    let ws = TcpListener::bind(address).await.unwrap();
    tokio::spawn(gateway(ws, gateway_url, dispatches));
    // The next attempt comes 5 s after the refused one.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while discord.calls(|c| c.path.ends_with("/commands")).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "never connected: {:#?}",
            discord.calls.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(discord.calls(|c| c.path == "/api/v10/gateway").len() >= 2);
    // Connected: messages work as usual.
    discord.command("4101", DAVE, "dave", "envs", json!([]));
    discord
        .wait_for("the answer", |c| {
            c.path == format!("/api/v10/webhooks/{APP}/tok-4101/messages/@original")
        })
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn whoever_else_is_told_gets_a_direct_message() {
    let discord = Discord::start().await;
    // Dave takes staging's lock; Lena, wanting it, queues and is told by DM when Dave lets go.
    discord.command(
        "7001",
        DAVE,
        "dave",
        "lock",
        json!([{ "name": "env", "type": 3, "value": "staging" }, { "name": "reason", "type": 3, "value": "QA" }]),
    );
    discord
        .wait_for("dave's lock", |c| {
            c.path == format!("/api/v10/webhooks/{APP}/tok-7001/messages/@original")
        })
        .await;
    discord.command(
        "7002",
        LENA,
        "lena",
        "rushbox",
        json!([{ "name": "text", "type": 3, "value": "queue me for staging" }]),
    );
    discord
        .wait_for("lena queued", |c| {
            c.path == format!("/api/v10/webhooks/{APP}/tok-7002/messages/@original")
        })
        .await;
    discord.command(
        "7003",
        DAVE,
        "dave",
        "unlock",
        json!([{ "name": "env", "type": 3, "value": "staging" }]),
    );

    let opened = discord
        .wait_for("a DM channel", |c| c.path == "/api/v10/users/@me/channels")
        .await;
    assert_eq!(opened.body["recipient_id"], json!(LENA));
    let dm = discord
        .wait_for("the DM", |c| {
            c.method == Method::POST && c.path == format!("/api/v10/channels/6{LENA}/messages")
        })
        .await;
    assert!(description(&dm).contains("staging"), "{:?}", dm.body);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let dms = discord.calls(|c| c.path == format!("/api/v10/channels/6{LENA}/messages"));
    assert_eq!(dms.len(), 1, "told once: {dms:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn notices_from_before_the_start_go_out_by_dm_without_the_gateway() {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let api = serve_rest(Rest {
        calls: calls.clone(),
        gateway_url: "ws://127.0.0.1:9/unused".to_owned(),
        next_id: Arc::new(Mutex::new(1000)),
        expired: Arc::default(),
    })
    .await;
    let config = DiscordConfig {
        api_proxy: Some(api),
        ..DiscordConfig::default()
    };
    let notice = |to: &str| {
        Notice {
        to: rushbox_pipeline::Actor::parse(to).unwrap(),
        reply: Reply::text(
            Tone::Error,
            "rushbox restarted while operation #1 (create of `dev-foo`) was running; it was stopped.",
        )
        .button(Button::new("Status", "status dev-foo")),
    }
    };
    let notices = [
        notice(&format!("discord:{GUILD}:lead:{LENA}")),
        notice("slack:T1:U1"),
    ];
    rushbox_discord::notify(&config, "test-token", &notices).await;

    let calls = calls.lock().unwrap().clone();
    let paths: Vec<&str> = calls.iter().map(|c| c.path.as_str()).collect();
    let dm_path = format!("/api/v10/channels/6{LENA}/messages");
    assert_eq!(paths, ["/api/v10/users/@me/channels", dm_path.as_str()]);
    assert_eq!(calls[0].body["recipient_id"], json!(LENA));
    assert!(
        description(&calls[1]).contains("operation #1 (create of `dev-foo`)"),
        "{:#}",
        calls[1].body
    );
    assert!(calls[1].body.to_string().contains("status dev-foo"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_slash_command_is_shown_only_to_whoever_typed_it() {
    let discord = Discord::start().await;
    staging_has_foo(&discord.robot).await;
    discord.command(
        "8001",
        DAVE,
        "dave",
        "promote",
        json!([{ "name": "source", "type": 3, "value": "staging" }, { "name": "target", "type": 3, "value": "prod" }]),
    );
    let original = format!("/api/v10/webhooks/{APP}/tok-8001/messages/@original");
    discord
        .wait_for("the public placeholder removed", |c| {
            c.method == Method::DELETE && c.path == original
        })
        .await;
    let refusal = discord
        .wait_for("the private refusal", |c| {
            c.method == Method::POST && c.path == format!("/api/v10/webhooks/{APP}/tok-8001")
        })
        .await;
    assert_eq!(refusal.body["flags"], json!(64));
    assert_eq!(refusal.body["embeds"][0]["color"], json!(0xE67E22));
}

#[tokio::test(flavor = "multi_thread")]
async fn options_autocomplete_from_the_running_envs_and_their_branches() {
    let discord = Discord::start().await;
    staging_has_foo(&discord.robot).await;
    discord.send(
        "INTERACTION_CREATE",
        json!({
            "id": "9001", "application_id": APP, "type": 4, "token": "tok-9001",
            "version": 1, "locale": "en-US", "entitlements": [], "attachment_size_limit": 8388608,
            "guild_id": GUILD, "channel_id": CHANNEL, "member": member(DAVE, "dave", DEV_ROLE),
            "data": { "id": "3000", "name": "status", "type": 1, "options": [
                { "name": "env", "type": 3, "value": "sta", "focused": true },
            ]},
        }),
    );
    let answer = discord
        .wait_for("suggestions", |c| {
            c.path.ends_with("/interactions/9001/tok-9001/callback")
        })
        .await;
    assert_eq!(
        answer.body,
        json!({ "type": 8, "data": { "choices": [{ "name": "staging", "value": "staging" }] } })
    );

    // A ref is offered the branches the envs run.
    discord.send(
        "INTERACTION_CREATE",
        json!({
            "id": "9002", "application_id": APP, "type": 4, "token": "tok-9002",
            "version": 1, "locale": "en-US", "entitlements": [], "attachment_size_limit": 8388608,
            "guild_id": GUILD, "channel_id": CHANNEL, "member": member(DAVE, "dave", DEV_ROLE),
            "data": { "id": "3001", "name": "deploy", "type": 1, "options": [
                { "name": "ref", "type": 3, "value": "fo", "focused": true },
            ]},
        }),
    );
    let answer = discord
        .wait_for("branch suggestions", |c| {
            c.path.ends_with("/interactions/9002/tok-9002/callback")
        })
        .await;
    assert_eq!(
        answer.body,
        json!({ "type": 8, "data": { "choices": [{ "name": "foo", "value": "foo" }] } })
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn progress_outliving_the_interaction_token_goes_on_in_a_channel_message() {
    let discord = Discord::start().await;
    discord
        .expired
        .store(true, std::sync::atomic::Ordering::SeqCst);
    discord.command(
        "9101",
        DAVE,
        "dave",
        "deploy",
        json!([{ "name": "ref", "type": 3, "value": "foo" }, { "name": "target", "type": 3, "value": "dev" }]),
    );
    discord
        .wait_for("the final state in the channel", |c| {
            c.path
                .starts_with(&format!("/api/v10/channels/{CHANNEL}/messages"))
                && description(c).contains("`dev-foo` is ready")
        })
        .await;
}

/// A gateway that can be taken down: while `up` is false it drops every
/// connection at once, and taking it down ends the session it serves.
async fn flaky_gateway(listener: TcpListener, url: String, up: tokio::sync::watch::Receiver<bool>) {
    while let Ok((stream, _)) = listener.accept().await {
        if !*up.borrow() {
            continue; // dropped: the handshake fails
        }
        let (_dispatch, mut dispatches) = mpsc::unbounded_channel();
        let mut down = up.clone();
        tokio::select! {
            _ = session(stream, &url, &mut dispatches) => {}
            // Dropping the session cuts the TCP connection without a close frame.
            _ = down.wait_for(|up| !*up) => {}
        }
    }
}

/// Waits (up to a minute) until `done`.
async fn wait_until(what: &str, done: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(std::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_whose_gateway_goes_away_is_given_up_and_started_again_once() {
    let ws = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gateway_url = format!("ws://{}", ws.local_addr().unwrap());
    let (up, is_up) = tokio::sync::watch::channel(true);
    tokio::spawn(flaky_gateway(ws, gateway_url.clone(), is_up));
    let (dispatch, _dispatches) = mpsc::unbounded_channel();
    let discord = Discord::launch(Some(GUILD.parse().unwrap()), gateway_url, dispatch).await;
    let registrations = || discord.calls(|c| c.path.ends_with("/commands")).len();
    let lookups = || discord.calls(|c| c.path == "/api/v10/gateway").len();
    wait_until("connected", || registrations() == 1).await;
    let looked_up = lookups();

    // The gateway goes away. serenity's own resume fails; after 10 s
    // rushbox gives the session up, and 5 s later looks the gateway up again.
    up.send_replace(false);
    wait_until("a new attempt", || lookups() > looked_up).await;
    up.send_replace(true);
    wait_until("connected again", || registrations() == 2).await;

    // The session given up is gone for good: its shard queuer (which would
    // retry every 5 s) does not connect a second one now that the gateway is back.
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(registrations(), 2, "{:#?}", discord.calls.lock().unwrap());
}
