//! Snapshots of the Discord JSON each kind of reply becomes. The builders are
//! serenity's own, so this is the body Discord receives.

use rushbox_chat::{Block, Button, Reply, Table, Tone};
use rushbox_discord::render::{ButtonCommands, render};
use serde_json::{Value, json};

/// The parts of a channel message that carry the reply.
fn shown(reply: &Reply) -> Value {
    let message = serde_json::to_value(render(reply, &ButtonCommands::new()).message()).unwrap();
    json!({ "embeds": message["embeds"], "components": message["components"] })
}

fn text(s: &str) -> Block {
    Block::Text { text: s.to_owned() }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn info_text_is_a_blue_embed_without_buttons() {
    let reply = Reply::text(Tone::Info, "`staging` is locked by @alice for QA.");
    assert_eq!(
        shown(&reply),
        json!({
            "embeds": [{
                "type": "rich",
                "color": 0x5865F2,
                "description": "`staging` is locked by @alice for QA.",
            }],
            "components": [],
        })
    );
}

#[test]
fn refusal_lists_blockers_as_bullets_and_offers_quiet_ways_out() {
    let reply = Reply::new(Tone::Refused)
        .with(text("You can't deploy to `staging` yet."))
        .with(Block::List {
            items: strings(&[
                "@alice holds the lock (QA) — ask them or type `queue me for staging`",
                "`staging` is being deployed",
            ]),
        })
        .button(Button::new("Queue me", "queue me for staging"))
        .button(Button::new("Force", "lock! staging").danger());
    assert_eq!(
        shown(&reply),
        json!({
            "embeds": [{
                "type": "rich",
                "color": 0xE67E22,
                "description": "You can't deploy to `staging` yet.\n\n\
                    • @alice holds the lock (QA) — ask them or type `queue me for staging`\n\
                    • `staging` is being deployed",
            }],
            "components": [{
                "type": 1,
                "components": [
                    { "type": 2, "style": 2, "disabled": false, "label": "Queue me", "custom_id": "run:queue me for staging" },
                    { "type": 2, "style": 4, "disabled": false, "label": "Force", "custom_id": "run:lock! staging" },
                ],
            }],
        })
    );
    let rendered = render(&reply, &ButtonCommands::new());
    let followup = serde_json::to_value(rendered.followup()).unwrap();
    assert_eq!(followup["flags"], json!(64), "refusals are ephemeral");
}

#[test]
fn env_table_is_one_field_per_env() {
    let reply = Reply::new(Tone::Info).with(Block::Table(Table::new(
        strings(&["env", "state", "branch", "owner"]),
        vec![
            strings(&["prod", "running", "main", ""]),
            strings(&["dev-foo", "suspended", "foo", "@alice"]),
        ],
    )));
    assert_eq!(
        shown(&reply),
        json!({
            "embeds": [{
                "type": "rich",
                "color": 0x5865F2,
                "fields": [
                    { "name": "prod", "value": "state: running\nbranch: main", "inline": false },
                    { "name": "dev-foo", "value": "state: suspended\nbranch: foo\nowner: @alice", "inline": false },
                ],
            }],
            "components": [],
        })
    );
}

#[test]
fn a_long_env_table_stops_at_25_fields_and_says_how_many_more() {
    let rows = (0..30)
        .map(|i| strings(&[&format!("dev-{i}"), "running"]))
        .collect();
    let reply =
        Reply::new(Tone::Info).with(Block::Table(Table::new(strings(&["env", "state"]), rows)));
    let embed = &shown(&reply)["embeds"][0];
    assert_eq!(embed["fields"].as_array().unwrap().len(), 25);
    assert_eq!(embed["fields"][24]["name"], json!("dev-24"));
    assert_eq!(embed["footer"], json!({ "text": "…and 5 more not shown" }));
}

#[test]
fn status_card_has_inline_short_fields_and_a_link_button() {
    let reply = Reply::new(Tone::Info)
        .with(text("`dev-foo` is running."))
        .with(Block::Fields {
            fields: vec![
                ("Branch".to_owned(), "foo".to_owned()),
                ("Owner".to_owned(), "@alice".to_owned()),
                (
                    "Commit".to_owned(),
                    "f00f00f — Redesign the login page header".to_owned(),
                ),
            ],
        })
        .with(Block::Link {
            label: "Open dev-foo".to_owned(),
            url: "http://dev-foo.localhost:8080".to_owned(),
        });
    assert_eq!(
        shown(&reply),
        json!({
            "embeds": [{
                "type": "rich",
                "color": 0x5865F2,
                "description": "`dev-foo` is running.",
                "fields": [
                    { "name": "Branch", "value": "foo", "inline": true },
                    { "name": "Owner", "value": "@alice", "inline": true },
                    { "name": "Commit", "value": "f00f00f — Redesign the login page header", "inline": false },
                ],
            }],
            "components": [{
                "type": 1,
                "components": [
                    { "type": 2, "style": 5, "disabled": false, "label": "Open dev-foo", "url": "http://dev-foo.localhost:8080" },
                ],
            }],
        })
    );
}

#[test]
fn progress_is_yellow_and_lists_steps() {
    let reply = Reply::new(Tone::Progress)
        .with(text("Deploying `foo` to `dev-foo` (operation #3, 12s)"))
        .with(Block::List {
            items: strings(&["✓ checked out f00f00f", "… building"]),
        });
    assert_eq!(
        shown(&reply),
        json!({
            "embeds": [{
                "type": "rich",
                "color": 0xFEE75C,
                "description": "Deploying `foo` to `dev-foo` (operation #3, 12s)\n\n• ✓ checked out f00f00f\n• … building",
            }],
            "components": [],
        })
    );
}

#[test]
fn success_has_link_then_primary_and_danger_buttons() {
    let reply = Reply::text(Tone::Success, "`dev-foo` is ready.")
        .with(Block::Link {
            label: "Open".to_owned(),
            url: "http://dev-foo.localhost:8080".to_owned(),
        })
        .button(Button::new(
            "Deploy to staging",
            "deploy dev-foo to staging",
        ))
        .button(Button::new("Destroy", "destroy dev-foo").danger());
    assert_eq!(
        shown(&reply),
        json!({
            "embeds": [{
                "type": "rich",
                "color": 0x57F287,
                "description": "`dev-foo` is ready.",
            }],
            "components": [{
                "type": 1,
                "components": [
                    { "type": 2, "style": 5, "disabled": false, "label": "Open", "url": "http://dev-foo.localhost:8080" },
                    { "type": 2, "style": 1, "disabled": false, "label": "Deploy to staging", "custom_id": "run:deploy dev-foo to staging" },
                    { "type": 2, "style": 4, "disabled": false, "label": "Destroy", "custom_id": "run:destroy dev-foo" },
                ],
            }],
        })
    );
    let followup = serde_json::to_value(render(&reply, &ButtonCommands::new()).followup()).unwrap();
    assert!(followup.get("flags").is_none() || followup["flags"] == json!(0));
}

#[test]
fn buttons_wrap_at_five_per_row() {
    let mut reply = Reply::text(Tone::Info, "Pick one.");
    for i in 0..7 {
        reply = reply.button(Button::new(&format!("b{i}"), format!("status dev-{i}")));
    }
    let components = &shown(&reply)["components"];
    assert_eq!(components[0]["components"].as_array().unwrap().len(), 5);
    assert_eq!(components[1]["components"].as_array().unwrap().len(), 2);
}

#[test]
fn a_command_too_long_for_a_custom_id_is_remembered_by_a_short_id() {
    let commands = ButtonCommands::new();
    let long = format!("lock staging for 2h: {}", "x".repeat(120));
    let id = commands.custom_id(&long);
    assert!(id.len() <= 100);
    assert_eq!(
        commands.custom_id(&long),
        id,
        "the same command keeps its id"
    );
    assert_eq!(commands.command(&id), Some(long));
    assert_eq!(commands.command("run:envs"), Some("envs".to_owned()));
    assert_eq!(commands.command("someone-else's-button"), None);
}

/// The Robot's last version of a deploy's progress, as Discord shows it in
/// place of "Deploying foo (…)": it still says what was deployed where.
#[test]
fn a_finished_deploy_names_its_branch_commit_and_release() {
    use std::sync::Arc;

    use rushbox_chat::{Actor, Incoming, Robot};
    use rushbox_pipeline::{Engine, FixedRefs, NoopProvider, PipelineConfig};

    let dir = tempfile::tempdir().unwrap();
    let refs = FixedRefs::new([("foo", "f00f00f00f00f00f00f00f00f00f00f00f00f00f")]);
    let engine = Engine::open(
        PipelineConfig::default(),
        dir.path(),
        Arc::new(NoopProvider::new()),
        Arc::new(refs),
    )
    .unwrap();
    let robot = Robot::new(engine);
    let answer = robot.handle(&Incoming {
        actor: Actor::new("discord:81384788765712384", "80351110224678912", "Alice"),
        channel: "1".to_owned(),
        text: "deploy branch foo to dev".to_owned(),
        reply_to: None,
    });
    let mut feed = answer.progress.into_iter().next().expect("an operation");
    let mut last = None;
    while let Some(version) = feed.next_blocking() {
        last = Some(version);
    }
    let mut shown = shown(&last.expect("a final version"));
    // The time taken is the one part that varies from run to run.
    let description = shown["embeds"][0]["description"].as_str().unwrap();
    let (before, after) = description.split_once(", deployed in ").unwrap();
    let rest = after.trim_start_matches(|c: char| c.is_ascii_digit());
    shown["embeds"][0]["description"] = json!(format!("{before}, deployed in …{rest}"));
    assert_eq!(
        shown,
        json!({
            "embeds": [{
                "type": "rich",
                "color": 0x57F287,
                "description": "`dev-foo` is ready: branch foo (f00f00f00f, release r1), deployed in …s.",
            }],
            "components": [{
                "type": 1,
                "components": [
                    { "type": 2, "style": 5, "disabled": false, "label": "Open dev-foo", "url": "http://dev-foo.localhost:8080" },
                    { "type": 2, "style": 1, "disabled": false, "label": "Deploy to staging", "custom_id": "run:deploy dev-foo to staging" },
                    { "type": 2, "style": 4, "disabled": false, "label": "Destroy", "custom_id": "run:destroy dev-foo" },
                ],
            }],
        })
    );
}

/// `which environments are running` from the Robot, for a realistic
/// morning (prod and staging on main, staging locked with one waiting, a
/// feature env): one embed field per env, named by it, its state and owner
/// (or lock) first, every line short enough for a phone.
#[test]
fn the_robots_env_list_is_one_short_field_per_env() {
    use std::sync::Arc;

    use rushbox_chat::{Actor, Incoming, Robot};
    use rushbox_pipeline::config::{PipelineConfig, RolesConfig};
    use rushbox_pipeline::engine::ManualClock;
    use rushbox_pipeline::{Engine, FixedRefs, NoopProvider};

    const GUILD: &str = "discord:81384788765712384";
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(1_800_000_000));
    let config = PipelineConfig {
        roles: RolesConfig {
            leads: vec![format!("{GUILD}:111111111111111111")],
            developers: vec![format!("{GUILD}:*")],
        },
        ..PipelineConfig::default()
    };
    let refs = FixedRefs::new([
        ("main", "1111111111111111111111111111111111111111"),
        ("feature/login", "10c1210c1210c1210c1210c1210c1210c1210c12"),
    ]);
    let engine = Engine::open_with_clock(
        config,
        dir.path(),
        Arc::new(NoopProvider::new()),
        Arc::new(refs),
        clock.clone(),
    )
    .unwrap();
    let robot = Robot::new(engine);
    let say = |who: &str, text: &str| {
        let answer = robot.handle(&Incoming {
            actor: Actor::new(GUILD, who, who),
            channel: "1".to_owned(),
            text: text.to_owned(),
            reply_to: None,
        });
        for mut feed in answer.progress {
            while feed.next_blocking().is_some() {}
        }
        answer.reply
    };
    let (lena, alice, bob) = (
        "111111111111111111",
        "222222222222222222",
        "333333333333333333",
    );
    say(lena, "deploy main to staging");
    say(lena, "promote staging to prod");
    clock.advance(3 * 3600);
    say(alice, "deploy branch feature/login to dev");
    clock.advance(1800);
    say(bob, "lock staging for QA on the checkout flow");
    say(alice, "queue me for staging");
    clock.advance(300);
    let envs = say(alice, "which environments are running");

    let embed = &shown(&envs)["embeds"][0];
    let fields = embed["fields"].as_array().unwrap();
    let names: Vec<&str> = fields.iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["dev-feature-login", "prod", "staging"]);
    let firsts: Vec<&str> = fields
        .iter()
        .map(|f| f["value"].as_str().unwrap().lines().next().unwrap())
        .collect();
    assert_eq!(
        firsts,
        [
            format!("running · <@{alice}>"),
            "running".to_owned(),
            format!("running · 🔒 <@{bob}> · 1 waiting"),
        ]
    );
    for field in fields {
        let value = field["value"].as_str().unwrap();
        assert!(value.lines().count() <= 5, "{value}");
        for line in value.lines() {
            assert!(line.chars().count() <= 60, "too wide for a phone: {line:?}");
        }
    }
    assert_eq!(
        fields[0]["value"],
        json!(
            "running · <@222222222222222222>\nbranch feature/login · commit 10c1210c12 · app app\nhttp://dev-feature-login.localhost:8080\ncreated 35m ago · last activity 35m ago\nexpires in 2d 23h · sleeps in 1h 25m"
        )
    );
}
