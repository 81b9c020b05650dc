//! rushbox's Slack adapter against a Slack that runs on loopback: real
//! slack-morphism client and Socket Mode listener, real engine (noop
//! provider, sled in a temporary directory), fake Web API and WebSocket.
//! Tests wait on what the fake records and on the adapter's activity
//! (events handled, nothing under way), never on time.

mod fake_slack;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use fake_slack::{Call, Cut, FakeSlack, PATIENCE, Trouble};
use rushbox_chat::{Actor, Robot};
use rushbox_pipeline::config::{PipelineConfig, RolesConfig};
use rushbox_pipeline::engine::ManualClock;
use rushbox_pipeline::provider::{Action, CancelToken, Outcome, Provider, ProviderError, Request};
use rushbox_pipeline::{Engine, FixedRefs, NoopProvider};

/// The noop provider, taking its time: a few steps `pause` apart, like a real build.
struct Paced {
    noop: Arc<NoopProvider>,
    pause: Duration,
}

impl Provider for Paced {
    fn name(&self) -> &str {
        "paced"
    }

    fn run(
        &self,
        request: &Request,
        progress: &mut dyn FnMut(&str),
        cancel: &CancelToken,
    ) -> Result<Outcome, ProviderError> {
        for step in 1..=3 {
            progress(&format!("step {step} of {}", request.action));
            std::thread::sleep(self.pause);
        }
        self.noop.run(request, progress, cancel)
    }
}
use rushbox_slack::SlackBot;
use serde_json::{Value, json};
use slack_morphism::prelude::*;
use tokio::sync::oneshot;

/// The warnings and errors the adapter logs (`tracing`, target
/// `rushbox_slack`), one line each, from the moment of [`Logged::capture`]
/// until it is dropped. Captured for the test's own thread, so a test that
/// reads them runs on a current-thread runtime, where every task runs there.
struct Logged {
    lines: Arc<Mutex<Vec<String>>>,
    _capturing: tracing::subscriber::DefaultGuard,
}

impl Logged {
    fn capture() -> Logged {
        let flavor = tokio::runtime::Handle::current().runtime_flavor();
        assert_eq!(
            flavor,
            tokio::runtime::RuntimeFlavor::CurrentThread,
            "lines logged on other threads would be missed"
        );
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("rushbox_slack=warn"))
            .without_time()
            .with_level(false)
            .with_target(false)
            .with_writer(move || Line(sink.clone()))
            .finish();
        Logged {
            lines,
            _capturing: tracing::subscriber::set_default(subscriber),
        }
    }

    fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }
}

/// Where the subscriber writes one formatted event.
struct Line(Arc<Mutex<Vec<String>>>);

impl std::io::Write for Line {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(bytes);
        let mut lines = self.0.lock().unwrap();
        lines.extend(text.lines().filter(|l| !l.is_empty()).map(str::to_owned));
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Waits until `bot` has handled `handled` events and nothing it started is
/// under way (answers, progress, DMs); then how many it has handled.
async fn settled(bot: &SlackBot, handled: u64) -> u64 {
    let settled = tokio::time::timeout(PATIENCE, bot.activity().settled(handled)).await;
    settled.expect("the adapter never settled").handled
}

struct World {
    fake: FakeSlack,
    provider: Arc<NoopProvider>,
    bot: Arc<SlackBot>,
    _stop: oneshot::Sender<()>,
    _dir: tempfile::TempDir,
}

fn robot(dir: &std::path::Path, provider: Arc<dyn Provider>) -> Robot {
    let roles = RolesConfig {
        leads: vec!["slack:T1:ULEAD".to_owned()],
        developers: vec!["slack:T1:UDEV".to_owned()],
    };
    robot_with_roles(dir, provider, roles)
}

fn robot_with_roles(
    dir: &std::path::Path,
    provider: Arc<dyn Provider>,
    roles: RolesConfig,
) -> Robot {
    let config = PipelineConfig {
        roles,
        ..PipelineConfig::default()
    };
    let refs = FixedRefs::new([
        ("main", "1111111111111111111111111111111111111111"),
        ("foo", "f00f00f00f00f00f00f00f00f00f00f00f00f00f"),
    ]);
    let clock = Arc::new(ManualClock::new(1_800_000_000));
    let engine = Engine::open_with_clock(config, dir, provider, Arc::new(refs), clock).unwrap();
    Robot::new(engine)
}

/// How many times the provider deployed to `env`.
fn deploys_to(provider: &NoopProvider, env: &str) -> usize {
    provider
        .requests()
        .iter()
        .filter(|r| r.action == Action::Deploy && r.env.to_string() == env)
        .count()
}

impl World {
    /// rushbox connected over Socket Mode to a fresh fake Slack.
    async fn start() -> World {
        World::start_paced(Duration::ZERO, Duration::from_millis(50)).await
    }

    /// Each provider step takes `pause`; progress edits are `interval` apart at least.
    async fn start_paced(pause: Duration, interval: Duration) -> World {
        let fake = FakeSlack::start().await;
        let dir = tempfile::tempdir().unwrap();
        let provider = Arc::new(NoopProvider::new());
        let paced = Arc::new(Paced {
            noop: provider.clone(),
            pause,
        });
        let robot = robot(dir.path(), paced);
        // Notices (a lock stolen, handed on) come on the Robot's feed, as `run` delivers them.
        let notices = robot.notices();
        let client = rushbox_slack::client(&fake.api_url).unwrap();
        let token = SlackApiToken::new(SlackApiTokenValue("xoxb-test".to_owned()));
        let bot = SlackBot::connect(client, token, robot)
            .await
            .unwrap()
            .with_edit_interval(interval);
        let bot = Arc::new(bot);
        tokio::spawn(bot.clone().deliver_notices(notices));
        let (stop, stopped) = oneshot::channel::<()>();
        let app_token = SlackApiToken::new(SlackApiTokenValue("xapp-test".to_owned()));
        // One link, so a test knows which one it cuts; a refused reconnect
        // is tried again after 1 s instead of Slack-friendly 30 s.
        let config = SlackClientSocketModeConfig::new()
            .with_max_connections_count(1)
            .with_reconnect_timeout_in_seconds(1);
        tokio::spawn(rushbox_slack::socket_mode::listen(
            bot.clone(),
            app_token,
            config,
            async move {
                let _ = stopped.await;
            },
        ));
        fake.wait_connected().await;
        World {
            fake,
            provider,
            bot,
            _stop: stop,
            _dir: dir,
        }
    }

    async fn settled(&self, handled: u64) -> u64 {
        settled(&self.bot, handled).await
    }

    /// Waits for the final version of the progress message that follows a
    /// request, identified by the text of its last `chat.update`.
    async fn final_update(&self, containing: &str) -> Call {
        self.fake.wait_call("chat.update", containing).await
    }

    async fn posted_to(&self, channel: &str) -> Call {
        self.fake
            .wait_for(channel, |calls| {
                calls
                    .iter()
                    .find(|c| c.method == "chat.postMessage" && c.body["channel"] == channel)
                    .cloned()
            })
            .await
    }

    async fn posted(&self, containing: &str) -> Call {
        self.fake.wait_call("chat.postMessage", containing).await
    }

    /// The `users.info` calls made for `user`.
    fn lookups_of(&self, user: &str) -> usize {
        self.fake
            .calls("users.info")
            .iter()
            .filter(|c| c.body["user"] == user)
            .count()
    }
}

fn events_api(envelope: &str, event_id: &str, event: Value) -> Value {
    json!({"envelope_id": envelope, "type": "events_api", "accepts_response_payload": false,
        "payload": {"type": "event_callback", "team_id": "T1", "api_app_id": "A1",
            "event_id": event_id, "event_time": 1700000000, "event": event}})
}

fn mention(envelope: &str, event_id: &str, user: &str, text: &str, ts: &str) -> Value {
    events_api(
        envelope,
        event_id,
        json!({"type": "app_mention", "user": user, "channel": "C1",
            "text": format!("<@UBOT> {text}"), "ts": ts, "event_ts": ts}),
    )
}

fn direct(envelope: &str, event_id: &str, user: &str, text: &str) -> Value {
    events_api(
        envelope,
        event_id,
        json!({"type": "message", "channel": "D1", "channel_type": "im", "user": user,
            "text": text, "ts": format!("1700000001.{event_id}"), "event_ts": "1700000001.1"}),
    )
}

fn click(envelope: &str, user: &str, message: &Call, command: &str) -> Value {
    let ts = message.body["ts"].as_str().unwrap_or("");
    json!({"envelope_id": envelope, "type": "interactive", "accepts_response_payload": false,
        "payload": {"type": "block_actions", "team": {"id": "T1"},
            "user": {"id": user, "team_id": "T1"}, "api_app_id": "A1", "trigger_id": envelope,
            "container": {"type": "message", "message_ts": ts, "channel_id": message.body["channel"]},
            "channel": {"id": message.body["channel"]},
            "message": {"ts": ts, "text": "fallback", "blocks": message.body["blocks"]},
            "actions": [{"type": "button", "action_id": "rushbox:cmd:0", "value": command,
                "action_ts": format!("1700000009.{envelope}")}]}})
}

fn text_of(call: &Call) -> String {
    call.body.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mention_becomes_a_command_answered_in_its_thread_with_progress_edits() {
    let w = World::start().await;
    assert_eq!(w.bot.identity().user_id, "UBOT");
    w.fake.push(mention(
        "e1",
        "Ev1",
        "UDEV",
        "deploy branch foo to dev",
        "1700000000.000100",
    ));

    let reply = w.posted(":white_check_mark:").await;
    assert_eq!(reply.auth, "Bearer xoxb-test");
    assert_eq!(reply.body["channel"], "C1");
    assert_eq!(reply.body["thread_ts"], "1700000000.000100");
    assert!(reply.body["blocks"].is_array(), "{}", text_of(&reply));

    let progress = w.posted("Working on").await;
    assert_eq!(progress.body["thread_ts"], "1700000000.000100");
    let last = w.final_update("is ready").await;
    assert!(
        text_of(&last).contains("http://dev-foo.localhost:8080"),
        "{}",
        text_of(&last)
    );
    assert!(
        text_of(&last).contains("deploy dev-foo to staging"),
        "{}",
        text_of(&last)
    );
    // The edits are of the progress message, never a new message per step.
    for update in w.fake.calls("chat.update") {
        assert_eq!(
            update.body["ts"].as_str(),
            progress_ts(&w, &progress).as_deref()
        );
    }
    // The envelope was acked.
    w.fake.wait_call("ack", "\"envelope_id\":\"e1\"").await;
}

/// The ts the fake gave a posted message (the fake numbers them in order).
fn progress_ts(w: &World, progress: &Call) -> Option<String> {
    let posts = w.fake.calls("chat.postMessage");
    let index = posts.iter().position(|c| c.body == progress.body)?;
    Some(format!("1700000000.{:06}", 101 + index))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_edits_are_coalesced_but_the_final_version_always_goes() {
    // A deploy of 3 actions × 3 steps, 100 ms each: about 1 s of changing progress.
    let pause = Duration::from_millis(100);
    let w = World::start_paced(pause, Duration::from_millis(400)).await;
    w.fake
        .push(direct("e1", "Ev1", "UDEV", "deploy branch foo to dev"));
    let last = w.final_update("is ready").await;
    // The progress message is done with: no edit comes after the final one.
    assert_eq!(w.settled(1).await, 1);
    let updates = w.fake.calls("chat.update");
    // Some intermediate versions were shown, far fewer than the steps, and the last is final.
    assert!(updates.len() >= 2, "{updates:#?}");
    assert!(
        updates.len() <= 5,
        "{} edits for ~1 s at one per 400 ms",
        updates.len()
    );
    assert_eq!(updates.last().map(|u| &u.body), Some(&last.body));
    assert!(updates.iter().any(|u| u.body.to_string().contains("step ")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivered_event_runs_once() {
    let w = World::start().await;
    let first = mention(
        "e1",
        "Ev1",
        "UDEV",
        "deploy branch foo to dev",
        "1700000000.000100",
    );
    let again = mention(
        "e2",
        "Ev1",
        "UDEV",
        "deploy branch foo to dev",
        "1700000000.000100",
    );
    w.fake.push(first);
    w.fake.push(again);
    w.final_update("is ready").await;
    assert_eq!(w.settled(2).await, 2, "both deliveries handled");
    let deploys = deploys_to(&w.provider, "dev-foo");
    assert_eq!(deploys, 1, "{:?}", w.provider.requests());
    assert_eq!(
        w.fake.calls("chat.postMessage").len(),
        2,
        "one reply, one progress message"
    );
    w.fake.wait_call("ack", "\"envelope_id\":\"e2\"").await;
    assert_eq!(w.fake.calls("ack").len(), 2, "both deliveries are acked");
}

/// The engine stores each event id with its decision, so a redelivery is
/// dropped even by an adapter that has never seen it (as after a restart,
/// when the adapter's memory is empty; the engine reads the ids back from
/// its store, which crates/pipeline tests across a real reopen). And the
/// callback returns, so Slack gets its ack, only once the decision is made.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decided_event_is_not_run_again_by_a_fresh_adapter() {
    let fake = FakeSlack::start().await;
    let dir = tempfile::tempdir().unwrap();
    let provider = Arc::new(NoopProvider::new());
    let robot = robot(dir.path(), provider.clone());
    let connect = || async {
        let client = rushbox_slack::client(&fake.api_url).unwrap();
        let token = SlackApiToken::new(SlackApiTokenValue("xoxb-test".to_owned()));
        Arc::new(
            SlackBot::connect(client, token, robot.clone())
                .await
                .unwrap(),
        )
    };
    let envelope = mention(
        "e1",
        "Ev77",
        "UDEV",
        "deploy branch foo to dev",
        "1700000000.000700",
    );
    let SlackPushEvent::EventCallback(event) =
        serde_json::from_value::<SlackPushEvent>(envelope["payload"].clone()).unwrap()
    else {
        panic!("not an event callback");
    };
    let first = connect().await;
    first.on_push(event.clone()).await;
    // Decided before the callback returned: dev-foo exists already.
    let status = robot.handle(&rushbox_chat::Incoming {
        actor: Actor::new("slack:T1", "UDEV", "UDEV"),
        channel: "C1".to_owned(),
        text: "status dev-foo".to_owned(),
        reply_to: None,
    });
    assert!(
        status.reply.to_string().contains("dev-foo")
            && status.reply.tone != rushbox_chat::Tone::Refused,
        "{}",
        status.reply
    );
    fake.wait_call("chat.update", "is ready").await;
    let posts = fake.calls("chat.postMessage").len();

    let fresh = connect().await;
    fresh.on_push(event).await;
    assert_eq!(settled(&fresh, 1).await, 1, "the redelivery is handled");
    assert_eq!(
        deploys_to(&provider, "dev-foo"),
        1,
        "{:?}",
        provider.requests()
    );
    assert_eq!(
        fake.calls("chat.postMessage").len(),
        posts,
        "nothing said twice"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_direct_message_needs_no_mention_and_bots_are_ignored() {
    let w = World::start().await;
    // rushbox's own message, another bot's, and an edit: none is a command.
    w.fake.push(direct("e0", "Ev0", "UBOT", "envs"));
    w.fake.push(events_api(
        "e1",
        "Ev1",
        json!({"type":"message","channel":"D1","channel_type":"im","bot_id":"B2",
            "subtype":"bot_message","text":"envs","ts":"1.2"}),
    ));
    w.fake.push(events_api(
        "e2",
        "Ev2",
        json!({"type":"message","channel":"D1","channel_type":"im","subtype":"message_changed",
            "message":{"text":"envs","user":"UDEV"},"ts":"1.3"}),
    ));
    w.fake.push(direct("e3", "Ev3", "UDEV", "envs"));
    let reply = w.posted("No environments yet").await;
    assert_eq!(reply.body["channel"], "D1");
    assert!(reply.body.get("thread_ts").is_none(), "{}", text_of(&reply));
    assert_eq!(w.settled(4).await, 4, "four events, three of them ignored");
    assert_eq!(w.fake.calls("chat.postMessage").len(), 1);
}

// ---- Display names ---------------------------------------------------------

#[tokio::test(flavor = "current_thread")]
async fn the_askers_display_name_is_looked_up_once_and_mentions_stay_mentions() {
    let log = Logged::capture();
    let w = World::start().await;
    w.fake.set_user(
        "UDEV",
        json!({"name": "ada.l", "real_name": "Ada Lovelace",
            "profile": {"display_name": "Ada", "real_name": "Ada Lovelace"}}),
    );
    w.fake.push(mention(
        "e1",
        "Ev1",
        "UDEV",
        "lock staging for QA",
        "1700000000.000100",
    ));
    w.posted(":white_check_mark:").await;
    w.fake.push(mention(
        "e2",
        "Ev2",
        "UDEV",
        "who has staging",
        "1700000001.000100",
    ));
    // The Robot names the holder by id; Slack shows a mention as the
    // person's current name, so it stays a mention, not "@Ada" in plain text.
    let answer = w.posted("locked by").await;
    assert!(text_of(&answer).contains("<@UDEV>"), "{}", text_of(&answer));
    assert!(!text_of(&answer).contains("@Ada"), "{}", text_of(&answer));
    assert_eq!(w.lookups_of("UDEV"), 1, "two messages, one users.info");
    assert_eq!(w.fake.calls("users.info")[0].auth, "Bearer xoxb-test");
    // What the Robot was handed: the remembered name, no new lookup.
    assert_eq!(
        w.bot.actor("T1", "UDEV").await,
        Actor::new("slack:T1", "UDEV", "Ada")
    );
    assert_eq!(w.lookups_of("UDEV"), 1);
    assert!(log.lines().is_empty(), "{:?}", log.lines());
}

#[tokio::test(flavor = "current_thread")]
async fn a_failed_name_lookup_falls_back_to_the_id_and_is_logged_once() {
    let log = Logged::capture();
    let w = World::start().await;
    w.fake
        .trouble("users.info", Trouble::Fails("missing_scope".to_owned()));
    w.fake.push(direct("e1", "Ev1", "UDEV", "envs"));
    w.posted("No environments yet").await;
    w.fake
        .push(direct("e2", "Ev2", "ULEAD", "lock staging for QA"));
    w.posted(":white_check_mark:").await;
    assert_eq!(w.fake.calls("users.info").len(), 2, "one try per person");
    assert_eq!(
        w.bot.actor("T1", "ULEAD").await,
        Actor::new("slack:T1", "ULEAD", "ULEAD"),
        "the id stands in, and is not asked again right away"
    );
    assert_eq!(w.fake.calls("users.info").len(), 2);
    let log = log.lines();
    assert_eq!(log.len(), 1, "an outage is logged once: {log:?}");
    assert!(log[0].contains("users.info"), "{log:?}");
    assert!(log[0].contains("users:read"), "says which scope: {log:?}");
    assert!(!log[0].contains("xoxb"), "{log:?}");
}

#[tokio::test(flavor = "current_thread")]
async fn a_stalled_name_lookup_does_not_hold_the_command_for_long() {
    let log = Logged::capture();
    let w = World::start().await;
    w.fake.trouble("users.info", Trouble::Stalls);
    let asked = tokio::time::Instant::now();
    w.fake.push(direct("e1", "Ev1", "UDEV", "envs"));
    w.posted("No environments yet").await;
    let waited = asked.elapsed();
    assert!(
        waited < rushbox_slack::adapter::NAME_LOOKUP_TIMEOUT + Duration::from_secs(2),
        "{waited:?}"
    );
    let log = log.lines();
    assert_eq!(log.len(), 1, "{log:?}");
    assert!(log[0].contains("no answer"), "{log:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slash_command_runs_and_is_acked_with_an_echo() {
    let w = World::start().await;
    w.fake.push(
        json!({"envelope_id":"c1","type":"slash_commands","accepts_response_payload":true,
        "payload":{"team_id":"T1","channel_id":"C1","user_id":"UDEV","command":"/rushbox",
            "text":"envs","response_url":"https://hooks.example/1","trigger_id":"t1"}}),
    );
    let reply = w.posted("No environments yet").await;
    assert_eq!(reply.body["channel"], "C1");
    let ack = w.fake.wait_call("ack", "\"envelope_id\":\"c1\"").await;
    assert!(
        ack.body.to_string().contains("/rushbox envs"),
        "{}",
        ack.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slash_command_where_rushbox_is_not_invited_is_answered_privately() {
    let w = World::start().await;
    let response_url = format!("{}/respond", w.fake.api_url);
    w.fake.push(
        json!({"envelope_id":"c1","type":"slash_commands","accepts_response_payload":true,
        "payload":{"team_id":"T1","channel_id":"CNOPE","user_id":"UDEV","command":"/rushbox",
            "text":"envs","response_url":response_url,"trigger_id":"t1"}}),
    );
    let answer = w.fake.wait_call("respond", "No environments yet").await;
    assert!(
        text_of(&answer).contains("/invite @rushbox"),
        "{}",
        text_of(&answer)
    );
    assert_eq!(answer.auth, "", "a response URL needs no token");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_click_is_told_to_the_clicker_alone_and_leaves_the_button_for_a_lead() {
    let w = World::start().await;
    w.fake
        .push(direct("e1", "Ev1", "UDEV", "deploy branch foo to dev"));
    w.final_update("dev-foo` is ready").await;
    w.fake
        .push(direct("e2", "Ev2", "UDEV", "deploy dev-foo to staging"));
    let staged = w.final_update("staging` is ready").await;
    assert!(text_of(&staged).contains("promote staging to prod"));
    let updates = w.fake.calls("chat.update").len();
    let posts = w.fake.calls("chat.postMessage").len();

    // The developer clicks: the engine refuses, and only they are told why.
    w.fake
        .push(click("k1", "UDEV", &staged, "promote staging to prod"));
    let refused = w.fake.wait_call("chat.postEphemeral", ":no_entry:").await;
    assert_eq!(refused.body["user"], "UDEV");
    assert_eq!(refused.body["channel"], staged.body["channel"]);
    assert!(text_of(&refused).contains("lead"), "{}", text_of(&refused));
    // The clicked message is updated before anything is said, if at all: it was not.
    assert_eq!(
        w.fake.calls("chat.update").len(),
        updates,
        "the button stays for a lead: {:#?}",
        w.fake.calls("chat.update")
    );
    assert_eq!(
        w.fake.calls("chat.postMessage").len(),
        posts,
        "nothing said in public"
    );

    // The lead clicks the same button: granted, so the message changes for everyone.
    w.fake
        .push(click("k2", "ULEAD", &staged, "promote staging to prod"));
    let marked = w.final_update("<@ULEAD> chose").await;
    assert_eq!(marked.body["ts"], staged.body["ts"]);
    assert!(
        !text_of(&marked).contains("\"actions\""),
        "{}",
        text_of(&marked)
    );
    w.final_update("prod` is ready").await;
    assert_eq!(
        deploys_to(&w.provider, "prod"),
        1,
        "{:?}",
        w.provider.requests()
    );
    assert!(!text_of(&marked).contains("UDEV"), "{}", text_of(&marked));
    assert_eq!(w.fake.calls("chat.postEphemeral").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limited_edit_is_retried_after_retry_after() {
    let w = World::start().await;
    *w.fake.rate_limit_updates.lock().unwrap() = 1;
    w.fake
        .push(direct("e1", "Ev1", "UDEV", "deploy branch foo to dev"));
    w.final_update("is ready").await;
    assert_eq!(w.fake.calls("429").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notice_for_someone_else_arrives_by_direct_message() {
    let w = World::start().await;
    w.fake.push(direct(
        "e1",
        "Ev1",
        "UDEV",
        "lock staging for 2h, QA on checkout",
    ));
    w.posted(":white_check_mark:").await;
    w.fake.push(mention(
        "e2",
        "Ev2",
        "ULEAD",
        "steal the staging lock for a hotfix",
        "1700000005.000100",
    ));
    let dm = w.posted_to("DUDEV").await;
    assert!(text_of(&dm).contains("staging"), "{}", text_of(&dm));
    let opened = w.fake.calls("conversations.open");
    assert_eq!(opened[0].body["users"], json!(["UDEV"]));
}

// ---- Socket Mode reconnects ------------------------------------------------

/// Slack ends the link right after a deploy ran (its ack may be lost), and
/// redelivers that envelope on the new link: rushbox reconnects through
/// `apps.connections.open`, does not deploy twice, and answers what comes next once.
async fn reconnects_after(cut: Cut) -> World {
    let w = World::start().await;
    let deploy = mention(
        "e1",
        "Ev1",
        "UDEV",
        "deploy branch foo to dev",
        "1700000000.000100",
    );
    w.fake.push(deploy.clone());
    w.final_update("is ready").await;
    let posted_before = w.fake.calls("chat.postMessage").len();

    w.fake.cut_connections(cut);
    w.fake.wait_connections(2).await;
    w.fake.wait_open_connections(1).await;
    assert_eq!(w.fake.calls("apps.connections.open").len(), 2, "{cut:?}");

    w.fake.push(deploy);
    w.fake.push(direct("e2", "Ev2", "UDEV", "envs"));
    let answer = w.posted_to("D1").await;
    assert!(text_of(&answer).contains("dev-foo"), "{}", text_of(&answer));
    // The deploy, its redelivery and `envs`.
    assert_eq!(w.settled(3).await, 3, "{cut:?}");
    assert_eq!(deploys_to(&w.provider, "dev-foo"), 1, "{cut:?}");
    assert_eq!(
        w.fake.calls("chat.postMessage").len(),
        posted_before + 1,
        "{cut:?}: only the answer to `envs` is new"
    );
    // slack-morphism acks each envelope once its callback has returned.
    let acked = |calls: &[Call], envelope: &str| {
        calls
            .iter()
            .filter(|c| c.method == "ack" && c.body["envelope_id"] == envelope)
            .count()
    };
    let acks = w
        .fake
        .wait_for("the acks of e2 and the redelivered e1", |calls| {
            let acks = (acked(calls, "e1"), acked(calls, "e2"));
            (acks.0 >= 2 && acks.1 >= 1).then_some(acks)
        })
        .await;
    assert_eq!(acks, (2, 1), "{cut:?}: the redelivery is acked");
    w
}

#[tokio::test(flavor = "current_thread")]
async fn slacks_disconnect_envelope_is_followed_by_a_new_link() {
    let log = Logged::capture();
    reconnects_after(Cut::Disconnect).await;
    assert!(log.lines().is_empty(), "a planned move: {:?}", log.lines());
}

#[tokio::test(flavor = "current_thread")]
async fn a_closed_websocket_is_reopened() {
    let log = Logged::capture();
    reconnects_after(Cut::CloseFrame).await;
    assert!(log.lines().is_empty(), "{:?}", log.lines());
}

#[tokio::test(flavor = "current_thread")]
async fn a_connection_cut_without_a_close_frame_is_reopened() {
    let log = Logged::capture();
    reconnects_after(Cut::Abort).await;
    let log = log.lines();
    assert_eq!(log.len(), 1, "the broken link is reported: {log:?}");
    assert!(log[0].contains("broke"), "{log:?}");
    assert!(!log[0].contains("xapp"), "{log:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_reconnect_is_tried_again() {
    let w = World::start().await;
    w.fake.trouble(
        "apps.connections.open",
        Trouble::Fails("internal_error".to_owned()),
    );
    w.fake.cut_connections(Cut::Abort);
    w.fake
        .wait_for("a refused reconnect", |calls| {
            (calls
                .iter()
                .filter(|c| c.method == "apps.connections.open")
                .count()
                >= 2)
                .then_some(())
        })
        .await;
    w.fake.recover("apps.connections.open");
    w.fake.wait_connections(2).await;
    w.fake.push(direct("e1", "Ev1", "UDEV", "envs"));
    w.posted("No environments yet").await;
    assert!(
        w.fake.calls("apps.connections.open").len() >= 3,
        "{:?}",
        w.fake.calls("apps.connections.open")
    );
}

/// The whole adapter as the binary runs it: `connect_with` + `run`, Socket
/// Mode with Slack's default of two connections.
struct Running {
    fake: FakeSlack,
    provider: Arc<NoopProvider>,
    bot: Arc<SlackBot>,
    stop: oneshot::Sender<()>,
    running: tokio::task::JoinHandle<Result<(), rushbox_slack::SlackError>>,
    _dir: tempfile::TempDir,
}

impl Running {
    async fn start(fake: FakeSlack, roles: RolesConfig) -> Running {
        let dir = tempfile::tempdir().unwrap();
        let provider = Arc::new(NoopProvider::new());
        let config = rushbox_slack::SlackConfig {
            api_url: Some(fake.api_url.clone()),
            ..Default::default()
        };
        let tokens = rushbox_slack::SlackTokens {
            bot: "xoxb-test".to_owned(),
            app: Some("xapp-test".to_owned()),
            signing_secret: None,
        };
        let robot = robot_with_roles(dir.path(), provider.clone(), roles);
        let slack = rushbox_slack::connect_with(&config, tokens, robot)
            .await
            .unwrap();
        let bot = slack.bot().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let running = tokio::spawn(slack.run(async move {
            let _ = stopped.await;
        }));
        fake.wait_connected().await;
        Running {
            fake,
            provider,
            bot,
            stop,
            running,
            _dir: dir,
        }
    }

    async fn stop(self) {
        self.stop.send(()).unwrap();
        self.running.await.unwrap().unwrap();
    }
}

/// Each of the two connections may deliver the same event; it still runs once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_listens_on_two_connections_and_runs_each_event_once() {
    let r = Running::start(FakeSlack::start().await, RolesConfig::default()).await;
    let fake = r.fake.clone();
    // One call checks the app token, then one per link.
    fake.wait_for("two connections", |calls| {
        (calls
            .iter()
            .filter(|c| c.method == "apps.connections.open")
            .count()
            == 3)
            .then_some(())
    })
    .await;
    fake.wait_connections(2).await;
    fake.wait_open_connections(2).await;
    let opened = fake.calls("apps.connections.open");
    assert_eq!(opened[0].auth, "Bearer xapp-test");
    fake.push(direct("e1", "Ev1", "UDEV", "envs"));
    // Both links got the event and acked it.
    fake.wait_for("two acks", |calls| {
        let acks = calls
            .iter()
            .filter(|c| c.method == "ack" && c.body["envelope_id"] == "e1");
        (acks.count() == 2).then_some(())
    })
    .await;
    assert_eq!(settled(&r.bot, 2).await, 2);
    assert_eq!(fake.calls("chat.postMessage").len(), 1, "answered once");
    r.stop().await;
}

/// slack-morphism would retry a refused app token forever, silently;
/// `connect_with` asks once first, so a wrong token stops rushbox saying which variable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_app_token_stops_rushbox_at_connect_naming_its_variable() {
    let fake = FakeSlack::start().await;
    fake.trouble(
        "apps.connections.open",
        Trouble::Fails("invalid_auth".to_owned()),
    );
    let dir = tempfile::tempdir().unwrap();
    let robot = robot(dir.path(), Arc::new(NoopProvider::new()));
    let config = rushbox_slack::SlackConfig {
        api_url: Some(fake.api_url.clone()),
        ..Default::default()
    };
    let tokens = rushbox_slack::SlackTokens {
        bot: "xoxb-test".to_owned(),
        app: Some("xapp-wrong".to_owned()),
        signing_secret: None,
    };
    let connected = tokio::time::timeout(
        Duration::from_secs(10),
        rushbox_slack::connect_retrying(&config, tokens, robot, std::future::pending()),
    )
    .await
    .expect("a refusal is not tried again");
    let Err(error) = connected else {
        panic!("a refused app token is an error");
    };
    let error = error.to_string();
    assert!(error.contains("`SLACK_APP_TOKEN`"), "{error}");
    assert!(error.contains("invalid_auth"), "{error}");
    assert!(error.contains("connections:write"), "{error}");
    assert!(!error.contains("xapp-wrong"), "{error}");
    assert_eq!(fake.calls("apps.connections.open").len(), 1);
}

/// Slack answering that it is in trouble is not a reason to give up: the
/// next attempt comes 5 s later, and the one after that connects.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slack_in_trouble_at_start_is_tried_again_until_it_answers() {
    let fake = FakeSlack::start().await;
    fake.trouble("auth.test", Trouble::Fails("internal_error".to_owned()));
    let dir = tempfile::tempdir().unwrap();
    let robot = robot(dir.path(), Arc::new(NoopProvider::new()));
    let config = rushbox_slack::SlackConfig {
        api_url: Some(fake.api_url.clone()),
        ..Default::default()
    };
    let tokens = rushbox_slack::SlackTokens {
        bot: "xoxb-test".to_owned(),
        app: Some("xapp-test".to_owned()),
        signing_secret: None,
    };
    let connecting = tokio::spawn(async move {
        rushbox_slack::connect_retrying(&config, tokens, robot, std::future::pending())
            .await
            .map(|slack| slack.is_some())
    });
    fake.wait_call("auth.test", "").await;
    fake.recover("auth.test");
    let connected = tokio::time::timeout(Duration::from_secs(30), connecting)
        .await
        .expect("connected once Slack answers")
        .unwrap();
    assert!(matches!(connected, Ok(true)), "{connected:?}");
    assert_eq!(fake.calls("auth.test").len(), 2);
    assert_eq!(fake.calls("apps.connections.open").len(), 1);
}

// ---- User groups in roles --------------------------------------------------

/// Leads are whoever is in the Slack user group S0LEADS; everyone in T1 develops.
fn leads_in_a_user_group() -> RolesConfig {
    RolesConfig {
        leads: vec!["group:slack:S0LEADS".to_owned()],
        developers: vec!["slack:T1:*".to_owned()],
    }
}

/// Slack's event for a user group whose members changed.
fn group_changed(envelope: &str, event_id: &str, group: &str) -> Value {
    events_api(
        envelope,
        event_id,
        json!({"type": "subteam_members_changed", "subteam_id": group, "team_id": "T1",
            "date_previous_update": 1700000000, "date_update": 1700000100,
            "added_users": [], "added_users_count": "0",
            "removed_users": [], "removed_users_count": "0"}),
    )
}

/// UDEV puts branch foo on staging, ready to be promoted.
async fn stage_foo(fake: &FakeSlack) {
    fake.push(direct("s1", "Es1", "UDEV", "deploy branch foo to dev"));
    fake.wait_call("chat.update", "dev-foo` is ready").await;
    fake.push(direct("s2", "Es2", "UDEV", "deploy dev-foo to staging"));
    fake.wait_call("chat.update", "staging` is ready").await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_lead_by_slack_user_group_may_promote_and_others_may_not() {
    let log = Logged::capture();
    let fake = FakeSlack::start().await;
    fake.set_group("S0LEADS", &["U_LEAD"]);
    let r = Running::start(fake.clone(), leads_in_a_user_group()).await;
    let read = fake.wait_call("usergroups.users.list", "S0LEADS").await;
    assert_eq!(read.auth, "Bearer xoxb-test");
    stage_foo(&fake).await;

    fake.push(direct("e1", "Ev1", "UDEV", "promote staging to prod"));
    let refused = fake.wait_call("chat.postMessage", ":no_entry:").await;
    assert!(text_of(&refused).contains("lead"), "{}", text_of(&refused));
    fake.push(direct("e2", "Ev2", "U_LEAD", "promote staging to prod"));
    fake.wait_call("chat.update", "prod` is ready").await;
    assert_eq!(deploys_to(&r.provider, "prod"), 1);

    // Slack says the group changed: UDEV is now its only member.
    fake.set_group("S0LEADS", &["UDEV"]);
    fake.push(group_changed("e3", "Ev3", "S0LEADS"));
    fake.wait_for("the group read again", |calls| {
        (calls
            .iter()
            .filter(|c| c.method == "usergroups.users.list")
            .count()
            == 2)
            .then_some(())
    })
    .await;
    // The envelope is acked once the group is read again and its members set.
    fake.wait_call("ack", "\"e3\"").await;
    let updates = fake.calls("chat.update").len();
    fake.push(direct("e4", "Ev4", "UDEV", "promote staging to prod"));
    fake.wait_for("prod ready again", |calls| {
        (calls
            .iter()
            .filter(|c| c.method == "chat.update")
            .skip(updates)
            .any(|c| c.body.to_string().contains("prod` is ready")))
        .then_some(())
    })
    .await;
    assert_eq!(deploys_to(&r.provider, "prod"), 2);
    assert!(log.lines().is_empty(), "{:?}", log.lines());
    r.stop().await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_user_group_slack_will_not_list_keeps_its_last_members_and_the_log_says_why() {
    let log = Logged::capture();
    let fake = FakeSlack::start().await;
    fake.set_group("S0LEADS", &["U_LEAD"]);
    let r = Running::start(fake.clone(), leads_in_a_user_group()).await;
    fake.wait_call("usergroups.users.list", "S0LEADS").await;
    // The scope was taken away: the next read fails, twice.
    fake.trouble(
        "usergroups.users.list",
        Trouble::Fails("missing_scope".to_owned()),
    );
    fake.push(group_changed("e1", "Ev1", "S0LEADS"));
    fake.push(group_changed("e2", "Ev2", "S0LEADS"));
    fake.wait_for("two failed reads", |calls| {
        (calls
            .iter()
            .filter(|c| c.method == "usergroups.users.list")
            .count()
            == 3)
            .then_some(())
    })
    .await;
    stage_foo(&fake).await;
    fake.push(direct("e3", "Ev3", "U_LEAD", "promote staging to prod"));
    fake.wait_call("chat.update", "prod` is ready").await;
    assert_eq!(deploys_to(&r.provider, "prod"), 1, "U_LEAD is still a lead");
    let log = log.lines();
    assert_eq!(log.len(), 1, "logged once: {log:?}");
    assert!(log[0].contains("group:slack:S0LEADS"), "{log:?}");
    assert!(
        log[0].contains("usergroups:read"),
        "names the scope: {log:?}"
    );
    assert!(!log[0].contains("xoxb"), "{log:?}");
    r.stop().await;
}

// ---- The Events API over HTTP -------------------------------------------

const SECRET: &str = "test-signing-secret-0123456789";

/// rushbox's Events API router served on loopback.
struct Http {
    fake: FakeSlack,
    provider: Arc<NoopProvider>,
    bot: Arc<SlackBot>,
    address: std::net::SocketAddr,
    _dir: tempfile::TempDir,
}

impl Http {
    async fn start() -> Http {
        let fake = FakeSlack::start().await;
        let dir = tempfile::tempdir().unwrap();
        let provider = Arc::new(NoopProvider::new());
        let robot = robot(dir.path(), provider.clone());
        let config = rushbox_slack::SlackConfig {
            api_url: Some(fake.api_url.clone()),
            mode: rushbox_slack::SlackMode::Http,
            ..Default::default()
        };
        let tokens = rushbox_slack::SlackTokens {
            bot: "xoxb-test".to_owned(),
            app: None,
            signing_secret: Some(SECRET.to_owned()),
        };
        let slack = rushbox_slack::connect_with(&config, tokens, robot)
            .await
            .unwrap();
        let bot = slack.bot().clone();
        let router = slack.router().unwrap();
        let app = axum::Router::new().nest("/slack", router);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Http {
            fake,
            provider,
            bot,
            address,
            _dir: dir,
        }
    }

    /// One HTTP/1.1 POST; returns (status, body).
    async fn post(
        &self,
        path: &str,
        content_type: &str,
        headers: &[(&str, String)],
        body: &str,
    ) -> (u16, String) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(self.address).await.unwrap();
        let mut request = format!(
            "POST {path} HTTP/1.1\r\nHost: rushbox\r\nConnection: close\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        request.push_str(body);
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        let status = response[9..12].parse().unwrap();
        let body = response
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        (status, body)
    }

    /// A JSON event with the given timestamp and signature headers.
    async fn event_signed_as(&self, body: &str, at: u64, signature: &str) -> (u16, String) {
        let headers = [
            ("X-Slack-Request-Timestamp", at.to_string()),
            ("X-Slack-Signature", signature.to_owned()),
        ];
        self.post("/slack/events", "application/json", &headers, body)
            .await
    }

    async fn signed(&self, path: &str, content_type: &str, body: &str, at: u64) -> (u16, String) {
        let signature =
            rushbox_slack::events_api::SignatureCheck::new(SECRET).sign(at, body.as_bytes());
        self.post(
            path,
            content_type,
            &[
                ("X-Slack-Request-Timestamp", at.to_string()),
                ("X-Slack-Signature", signature),
            ],
            body,
        )
        .await
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn http_mention(event_id: &str, text: &str) -> String {
    json!({"type": "event_callback", "team_id": "T1", "api_app_id": "A1", "event_id": event_id,
        "event_time": 1700000000, "event": {"type": "app_mention", "user": "UDEV", "channel": "C1",
            "text": format!("<@UBOT> {text}"), "ts": "1700000000.000100", "event_ts": "1700000000.000100"}})
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_api_answers_the_url_verification_challenge() {
    let h = Http::start().await;
    let body = json!({"type": "url_verification", "token": "t", "challenge": "c-123"}).to_string();
    let (status, answer) = h
        .signed("/slack/events", "application/json", &body, now())
        .await;
    assert_eq!((status, answer.as_str()), (200, "c-123"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_api_runs_a_signed_event_once_even_when_replayed() {
    let h = Http::start().await;
    let body = http_mention("Ev1", "deploy branch foo to dev");
    let at = now();
    let (status, _) = h
        .signed("/slack/events", "application/json", &body, at)
        .await;
    assert_eq!(status, 200);
    h.fake.wait_call("chat.update", "is ready").await;
    // Slack's retry, or an attacker replaying a captured request: accepted, not run.
    let (status, _) = h
        .signed("/slack/events", "application/json", &body, at)
        .await;
    assert_eq!(status, 200);
    assert_eq!(settled(&h.bot, 2).await, 2, "the replay was handled");
    let deploys = deploys_to(&h.provider, "dev-foo");
    assert_eq!(deploys, 1);
    assert_eq!(h.fake.calls("chat.postMessage").len(), 2);
}

#[tokio::test(flavor = "current_thread")]
async fn events_api_rejects_what_slack_did_not_sign_and_never_logs_a_signature() {
    let log = Logged::capture();
    let h = Http::start().await;
    let body = http_mention("Ev1", "envs");
    let at = now();
    let expected = rushbox_slack::events_api::SignatureCheck::new(SECRET).sign(at, body.as_bytes());
    let wrong =
        rushbox_slack::events_api::SignatureCheck::new("another-secret").sign(at, body.as_bytes());

    let (status, answer) = h.event_signed_as(&body, at, &wrong).await;
    assert_eq!(status, 401, "{answer}");
    let (status, _) = h
        .signed("/slack/events", "application/json", &body, at - 600)
        .await;
    assert_eq!(status, 401, "a timestamp 10 minutes old is a replay");
    let (status, _) = h
        .post("/slack/events", "application/json", &[], &body)
        .await;
    assert_eq!(status, 401, "no headers");
    let tampered = body.replace("envs", "destroy prod");
    let (status, answer) = h.event_signed_as(&tampered, at, &expected).await;
    assert_eq!(status, 401);
    assert!(!answer.contains(&expected[3..]));

    // Each request was answered: none reached the bot, and none is under way.
    let counts = h.bot.activity().counts();
    assert_eq!((counts.handled, counts.busy), (0, 0), "nothing may run");
    assert!(h.fake.calls("chat.postMessage").is_empty());
    assert!(h.provider.requests().is_empty());
    let log = log.lines();
    assert_eq!(log.len(), 4, "{log:?}");
    for line in &log {
        assert!(!line.contains(&expected[3..]), "{line}");
        assert!(!line.contains(&wrong[3..]), "{line}");
        assert!(!line.contains(SECRET), "{line}");
        assert!(!line.contains("xoxb-test"), "{line}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_api_runs_the_slash_command_and_button_clicks() {
    let h = Http::start().await;
    let form = "team_id=T1&team_domain=team&channel_id=C1&channel_name=ops&user_id=UDEV&user_name=dev\
        &command=%2Frushbox&text=envs&response_url=https%3A%2F%2Fhooks.example%2F1&trigger_id=t1";
    let (status, answer) = h
        .signed(
            "/slack/commands",
            "application/x-www-form-urlencoded",
            form,
            now(),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer.contains("/rushbox envs"), "{answer}");
    h.fake
        .wait_call("chat.postMessage", "No environments")
        .await;

    let payload = json!({"type": "block_actions", "team": {"id": "T1"},
        "user": {"id": "UDEV", "team_id": "T1"}, "api_app_id": "A1", "trigger_id": "t2",
        "container": {"type": "message", "message_ts": "1700000000.000101", "channel_id": "C1"},
        "channel": {"id": "C1"},
        "message": {"ts": "1700000000.000101", "text": "x", "blocks": []},
        "actions": [{"type": "button", "action_id": "rushbox:cmd:0", "value": "help lock",
            "action_ts": "1700000002.1"}]});
    let form = format!(
        "payload={}",
        payload
            .to_string()
            .bytes()
            .map(|b| if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            })
            .collect::<String>()
    );
    let (status, _) = h
        .signed(
            "/slack/actions",
            "application/x-www-form-urlencoded",
            &form,
            now(),
        )
        .await;
    assert_eq!(status, 200);
    h.fake
        .wait_call("chat.postMessage", "lock staging for")
        .await;
    let update = h.fake.calls("chat.update");
    assert!(
        update[0]
            .body
            .to_string()
            .contains("<@UDEV> chose `help lock`")
    );
}
