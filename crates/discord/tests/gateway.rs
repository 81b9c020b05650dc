//! End to end: the real serenity client against a local Discord — REST
//! under `/api/v10` (axum) and a gateway (tokio-tungstenite) that says
//! Hello, takes Identify, sends READY and then whatever a test dispatches.
//! A real Robot with a sled store in a temporary directory answers. Tests
//! wait on what the fake records and on the adapter's [`Activity`], never
//! on time.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use rushbox_chat::{Actor, Button, Incoming, Notice, Reply, Robot, Tone};
use rushbox_discord::{Activity, DiscordConfig, run_observed};
use rushbox_pipeline::config::{PipelineConfig, RolesConfig};
use rushbox_pipeline::engine::ManualClock;
use rushbox_pipeline::{Engine, FixedRefs, NoopProvider, Role};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_tungstenite::tungstenite::Message as Frame;

const BOT: &str = "42";
const APP: &str = "77";
const GUILD: &str = "1";
const CHANNEL: &str = "500";
/// Lena holds the Discord role that `[roles]` names as leads; Dave another.
/// Everyone in the guild develops.
const LENA: &str = "10";
const DAVE: &str = "11";
const LEAD_ROLE: &str = "900";
const DEV_ROLE: &str = "901";
/// How long anything may take on a busy machine: a failure guard, not a wait.
const PATIENCE: Duration = Duration::from_secs(60);

/// One REST call the bot made.
#[derive(Debug, Clone)]
struct Call {
    method: Method,
    path: String,
    body: Value,
}

/// Every REST call so far, and a signal for each new one.
#[derive(Clone, Default)]
struct Calls {
    all: Arc<Mutex<Vec<Call>>>,
    recorded: Arc<watch::Sender<usize>>,
}

impl Calls {
    fn record(&self, call: Call) {
        let mut all = self.all.lock().unwrap();
        all.push(call);
        self.recorded.send_replace(all.len());
    }

    fn matching(&self, matches: impl Fn(&Call) -> bool) -> Vec<Call> {
        self.all
            .lock()
            .unwrap()
            .iter()
            .filter(|c| matches(c))
            .cloned()
            .collect()
    }

    /// Waits (up to [`PATIENCE`]) until `done` holds for the calls so far.
    async fn wait_until(&self, what: &str, done: impl Fn(&[Call]) -> bool) {
        let mut recorded = self.recorded.subscribe();
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while !done(&self.all.lock().unwrap()) {
            let changed = tokio::time::timeout_at(deadline, recorded.changed()).await;
            assert!(
                matches!(changed, Ok(Ok(()))),
                "never: {what}; calls: {:#?}",
                self.all.lock().unwrap()
            );
        }
    }
}

#[derive(Clone)]
struct Rest {
    calls: Calls,
    gateway_url: String,
    next_id: Arc<Mutex<u64>>,
    /// Interaction tokens have run out (as they do after 15 minutes).
    expired: Arc<std::sync::atomic::AtomicBool>,
}

async fn rest(State(rest): State<Rest>, method: Method, uri: Uri, body: Bytes) -> Response {
    let path = uri.path().to_owned();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    rest.calls.record(Call {
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
    calls: Calls,
    dispatch: mpsc::UnboundedSender<(String, Value)>,
    expired: Arc<std::sync::atomic::AtomicBool>,
    robot: Robot,
    /// What the adapter has finished with.
    activity: Activity,
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
        let calls = Calls::default();
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
                leads: vec![format!("group:discord:{LEAD_ROLE}")],
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

        let config = DiscordConfig {
            api_proxy: Some(api),
            guild_id: guild,
            ..DiscordConfig::default()
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let bot = robot.clone();
        let activity = Activity::new();
        let observed = activity.clone();
        tokio::spawn(async move {
            let shutdown = async move {
                let _ = stopped.await;
            };
            let ended = run_observed(config, bot, "test-token", observed, shutdown).await;
            ended.expect("the bot runs until the test ends");
        });
        Discord {
            calls,
            dispatch,
            expired,
            robot,
            activity,
            _stop: stop,
            _dir: dir,
        }
    }

    fn send(&self, event: &str, data: Value) {
        self.dispatch.send((event.to_owned(), data)).unwrap();
    }

    /// The first call (in order) that matches, waiting for it.
    async fn wait_for(&self, what: &str, matches: impl Fn(&Call) -> bool) -> Call {
        self.calls
            .wait_until(what, |calls| calls.iter().any(&matches))
            .await;
        self.calls(&matches).remove(0)
    }

    fn calls(&self, matches: impl Fn(&Call) -> bool) -> Vec<Call> {
        self.calls.matching(matches)
    }

    /// Waits until `handled` events from people are handled and nothing is
    /// under way (answers, progress, DMs); then how many were handled.
    async fn settled(&self, handled: u64) -> u64 {
        let settled = tokio::time::timeout(PATIENCE, self.activity.settled(handled)).await;
        settled.expect("the adapter never settled").handled
    }

    /// What the engine makes of `user` in the guild right now.
    fn role_of(&self, user: &str) -> Option<Role> {
        let actor = rushbox_pipeline::Actor::parse(&format!("discord:{GUILD}:{user}")).unwrap();
        self.robot.engine().role_of(&actor)
    }

    /// A slash command from `user`, whose member object says they hold the
    /// role usual for them (Lena the lead role, others the developer one).
    fn command(&self, id: &str, user: &str, name: &str, command: &str, options: Value) {
        let role = if user == LENA { LEAD_ROLE } else { DEV_ROLE };
        self.command_holding(id, user, name, &[role], command, options);
    }

    /// A slash command from `user` holding exactly `roles`.
    fn command_holding(
        &self,
        id: &str,
        user: &str,
        name: &str,
        roles: &[&str],
        command: &str,
        options: Value,
    ) {
        let mut member = member(user, name, "");
        member["roles"] = json!(roles);
        self.send(
            "INTERACTION_CREATE",
            json!({
                "id": id, "application_id": APP, "type": 2, "token": format!("tok-{id}"),
                "version": 1, "locale": "en-US", "entitlements": [], "attachment_size_limit": 8388608,
                "guild_id": GUILD, "channel_id": CHANNEL, "member": member,
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
    // Three messages handled, the last two without a word.
    assert_eq!(discord.settled(3).await, 3);
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

/// Lena deploys to staging first (and so holds its lock), so there is something to promote.
async fn staging_has_foo(robot: &Robot) {
    let incoming = Incoming {
        actor: Actor::new(&format!("discord:{GUILD}"), LENA, "lena"),
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
    discord
        .wait_for("connected", |c| c.path.ends_with("/commands"))
        .await;
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
    // What the engine tells people, as the adapter's own feed sees it.
    let mut told = discord.robot.notices();
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
    // Every command answered and every notice sent: one notice, one DM.
    assert_eq!(discord.settled(3).await, 3);
    let notices = std::iter::from_fn(|| told.try_next()).count();
    assert_eq!(notices, 1, "the engine told Lena once");
    let dms = discord.calls(|c| c.path == format!("/api/v10/channels/6{LENA}/messages"));
    assert_eq!(dms.len(), 1, "told once: {dms:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn notices_from_before_the_start_go_out_by_dm_without_the_gateway() {
    let calls = Calls::default();
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
        notice(&format!("discord:{GUILD}:{LENA}")),
        notice("slack:T1:U1"),
    ];
    rushbox_discord::notify(&config, "test-token", &notices).await;

    let calls = calls.matching(|_| true);
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

#[tokio::test(flavor = "multi_thread")]
async fn a_session_whose_gateway_goes_away_is_given_up_and_started_again_once() {
    let ws = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gateway_url = format!("ws://{}", ws.local_addr().unwrap());
    let (up, is_up) = tokio::sync::watch::channel(true);
    tokio::spawn(flaky_gateway(ws, gateway_url.clone(), is_up));
    let (dispatch, _dispatches) = mpsc::unbounded_channel();
    let discord = Discord::launch(Some(GUILD.parse().unwrap()), gateway_url, dispatch).await;
    let registrations = |calls: &[Call]| {
        calls
            .iter()
            .filter(|c| c.path.ends_with("/commands"))
            .count()
    };
    let lookups = |calls: &[Call]| {
        calls
            .iter()
            .filter(|c| c.path == "/api/v10/gateway")
            .count()
    };
    discord
        .calls
        .wait_until("connected", |calls| registrations(calls) == 1)
        .await;
    let looked_up = lookups(&discord.calls(|_| true));

    // The gateway goes away. serenity's own resume fails; after 10 s
    // rushbox gives the session up, and 5 s later looks the gateway up again.
    up.send_replace(false);
    discord
        .calls
        .wait_until("a new attempt", |calls| lookups(calls) > looked_up)
        .await;
    up.send_replace(true);
    discord
        .calls
        .wait_until("connected again", |calls| registrations(calls) == 2)
        .await;

    // The session given up is gone for good: its runtime, and with it the
    // shard queuer that would retry every 5 s, has ended, so nothing of it
    // can connect a second session now that the gateway is back.
    let ended = tokio::time::timeout(
        PATIENCE,
        discord.activity.wait_for(|c| c.sessions_ended >= 1),
    )
    .await
    .expect("the given-up session ends");
    assert_eq!(ended.sessions_ended, 1, "the new session runs on");
    assert_eq!(
        registrations(&discord.calls(|_| true)),
        2,
        "{:#?}",
        discord.calls(|_| true)
    );
}

// ---- Discord roles as groups --------------------------------------------

/// The answer to interaction `id`: the edit of its deferred response, or
/// (refused, or from a click) its followup.
async fn answer_to(discord: &Discord, id: &str) -> Call {
    let original = format!("/api/v10/webhooks/{APP}/tok-{id}/messages/@original");
    let followup = format!("/api/v10/webhooks/{APP}/tok-{id}");
    discord
        .wait_for(&format!("the answer to {id}"), |c| {
            (c.method == Method::PATCH && c.path == original && !description(c).is_empty())
                || (c.method == Method::POST && c.path == followup)
        })
        .await
}

fn refused(call: &Call) -> bool {
    call.body["flags"] == json!(64) && call.body["embeds"][0]["color"] == json!(0xE67E22)
}

/// The point of roles as groups: Lena's id is `discord:1:10` whatever roles
/// she holds, so taking the lead role away takes away what leads may do and
/// nothing else; the lock she took as a lead stays hers. (When the role was
/// part of the id, she became someone else and her lock was orphaned.)
#[tokio::test(flavor = "multi_thread")]
async fn a_lead_by_discord_role_promotes_and_after_the_role_is_taken_keeps_her_lock() {
    let discord = Discord::start().await;
    staging_has_foo(&discord.robot).await;
    let promote = json!([
        { "name": "source", "type": 3, "value": "staging" },
        { "name": "target", "type": 3, "value": "prod" },
    ]);
    let staging = json!([{ "name": "env", "type": 3, "value": "staging" }]);

    // Dave holds no lead role: refused. Lena holds it: prod.
    discord.command("6001", DAVE, "dave", "promote", promote.clone());
    let answer = answer_to(&discord, "6001").await;
    assert!(refused(&answer), "{:#}", answer.body);
    assert!(description(&answer).contains("lead"), "{:#}", answer.body);
    discord.command("6002", LENA, "lena", "promote", promote.clone());
    discord
        .wait_for("prod ready", |c| {
            c.path.contains("/tok-6002/") && description(c).contains("`prod` is ready")
        })
        .await;

    // As a lead, Lena locks staging.
    let lock = json!([
        { "name": "env", "type": 3, "value": "staging" },
        { "name": "reason", "type": 3, "value": "QA for 4.3" },
    ]);
    discord.command("6003", LENA, "lena", "lock", lock.clone());
    let locked = answer_to(&discord, "6003").await;
    assert!(!refused(&locked), "{:#}", locked.body);

    // An admin takes the lead role away: Discord says so in a member update.
    let mut update = member(LENA, "lena", DEV_ROLE);
    update["guild_id"] = json!(GUILD);
    discord.send("GUILD_MEMBER_UPDATE", update);
    assert_eq!(discord.settled(4).await, 4);
    assert_eq!(discord.role_of(LENA), Some(Role::Developer));

    // Now she is refused what only leads may do...
    discord.command_holding("6004", LENA, "lena", &[DEV_ROLE], "promote", promote);
    let answer = answer_to(&discord, "6004").await;
    assert!(refused(&answer), "{:#}", answer.body);
    assert!(description(&answer).contains("lead"), "{:#}", answer.body);
    // ...and the lock she took before is still hers: Dave can't have it,
    // and she, no lead now, may release it as its holder.
    discord.command("6005", DAVE, "dave", "lock", lock);
    let answer = answer_to(&discord, "6005").await;
    assert!(refused(&answer), "{:#}", answer.body);
    // (Ids this short are no snowflakes, so they stay `@10`, not a mention.)
    let holder = format!("staging is locked by @{LENA}");
    assert!(description(&answer).contains(&holder), "{:#}", answer.body);
    discord.command_holding("6006", LENA, "lena", &[DEV_ROLE], "unlock", staging);
    let unlocked = answer_to(&discord, "6006").await;
    assert!(!refused(&unlocked), "{:#}", unlocked.body);
    assert_eq!(
        unlocked.method,
        Method::PATCH,
        "a public answer: {:#}",
        unlocked.body
    );
}

/// Who holds the lead role, as each kind of gateway event says it, before
/// the person says anything: (event, payload, Lena's role, Dave's role).
#[tokio::test(flavor = "multi_thread")]
async fn member_events_and_guild_create_tell_who_holds_a_role() {
    let discord = Discord::start().await;
    let mut lena_in_guild = member(LENA, "lena", LEAD_ROLE);
    lena_in_guild["guild_id"] = json!(GUILD);
    let mut dave_joins = member(DAVE, "dave", LEAD_ROLE);
    dave_joins["guild_id"] = json!(GUILD);
    let mut lena_loses_it = member(LENA, "lena", DEV_ROLE);
    lena_loses_it["guild_id"] = json!(GUILD);
    let steps: Vec<(&str, Value, Option<Role>, Option<Role>)> = vec![
        (
            "GUILD_CREATE",
            guild_with(&[
                member(LENA, "lena", LEAD_ROLE),
                member(DAVE, "dave", DEV_ROLE),
            ]),
            Some(Role::Lead),
            Some(Role::Developer),
        ),
        (
            "GUILD_MEMBER_UPDATE",
            lena_loses_it,
            Some(Role::Developer),
            Some(Role::Developer),
        ),
        (
            "GUILD_MEMBER_ADD",
            dave_joins,
            Some(Role::Developer),
            Some(Role::Lead),
        ),
        (
            "GUILD_MEMBER_REMOVE",
            json!({ "guild_id": GUILD, "user": member(DAVE, "dave", "")["user"] }),
            Some(Role::Developer),
            Some(Role::Developer),
        ),
        (
            "GUILD_MEMBER_UPDATE",
            lena_in_guild,
            Some(Role::Lead),
            Some(Role::Developer),
        ),
        (
            "GUILD_ROLE_DELETE",
            json!({ "guild_id": GUILD, "role_id": LEAD_ROLE }),
            Some(Role::Developer),
            Some(Role::Developer),
        ),
    ];
    for (handled, (event, payload, lena, dave)) in (1..).zip(steps) {
        discord.send(event, payload);
        assert_eq!(discord.settled(handled).await, handled, "{event}");
        assert_eq!(
            (discord.role_of(LENA), discord.role_of(DAVE)),
            (lena, dave),
            "after {event} #{handled}"
        );
    }
    // None of it said a word.
    let said = discord.calls(|c| c.method != Method::PUT && c.path != "/api/v10/gateway");
    assert!(said.is_empty(), "{said:#?}");
}

/// A GUILD_CREATE for [`GUILD`] listing `members`.
fn guild_with(members: &[Value]) -> Value {
    json!({
        "id": GUILD, "name": "team", "owner_id": LENA, "icon": null, "splash": null,
        "discovery_splash": null, "afk_channel_id": null, "afk_timeout": 300,
        "verification_level": 0, "default_message_notifications": 0, "explicit_content_filter": 0,
        "roles": [], "emojis": [], "features": [], "mfa_level": 0, "application_id": null,
        "system_channel_id": null, "system_channel_flags": 0, "rules_channel_id": null,
        "vanity_url_code": null, "description": null, "banner": null, "premium_tier": 0,
        "preferred_locale": "en-US", "public_updates_channel_id": null, "nsfw_level": 0,
        "stickers": [], "premium_progress_bar_enabled": false,
        "joined_at": "2026-01-01T00:00:00.000000+00:00", "large": false, "member_count": members.len(),
        "voice_states": [], "members": members, "channels": [], "threads": [], "presences": [],
        "stage_instances": [], "guild_scheduled_events": [],
    })
}
