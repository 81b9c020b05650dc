//! The exact Block Kit JSON Slack receives for each kind of reply.
//! Expected JSON lives in `tests/snapshots/<name>.json`; after a deliberate
//! change, `UPDATE_SNAPSHOTS=1 cargo test -p rushbox-slack --test render`
//! rewrites them, and the diff is reviewed like code.

use rushbox_chat::{Block, Button, Reply, Table, Tone};
use rushbox_slack::render::render;

fn snapshot(name: &str, reply: &Reply) {
    let actual = serde_json::to_value(render(reply)).unwrap();
    let path = format!("{}/tests/snapshots/{name}.json", env!("CARGO_MANIFEST_DIR"));
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        let text = serde_json::to_string_pretty(&actual).unwrap();
        std::fs::write(&path, text + "\n").unwrap();
        return;
    }
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(
        actual,
        expected,
        "{name}: got\n{}",
        serde_json::to_string_pretty(&actual).unwrap()
    );
}

#[test]
fn info_text() {
    snapshot(
        "info_text",
        &Reply::text(
            Tone::Info,
            "`staging` is free: `lock staging for <reason>` takes it. Q&A > all.",
        ),
    );
}

#[test]
fn refusal_with_list_and_buttons() {
    let reply = Reply::text(Tone::Refused, "I can't do that:")
        .with(Block::List {
            items: vec![
                "staging is locked by @U024BE7LH → `queue me for staging`".to_owned(),
                "only a lead may promote to prod → ask a lead".to_owned(),
            ],
        })
        .button(Button::new("queue me for staging", "queue me for staging"));
    snapshot("refusal", &reply);
}

#[test]
fn env_table() {
    let columns = [
        "env",
        "app",
        "branch",
        "owner",
        "state",
        "address",
        "lock / queue",
    ];
    let mut rows = vec![
        vec![
            "prod",
            "web",
            "–",
            "–",
            "running",
            "http://prod.localhost:8080",
            "–",
        ],
        vec![
            "staging",
            "web",
            "foo",
            "–",
            "running",
            "http://staging.localhost:8080",
            "🔒 @U0G9QF9C6",
        ],
    ];
    let devs: Vec<String> = (0..16).map(|i| format!("dev-f{i}")).collect();
    for name in &devs {
        rows.push(vec![name, "web", "f", "@U0G9QF9C6", "suspended", "–", "–"]);
    }
    let reply = Reply::text(Tone::Info, format!("{} environment(s):", rows.len())).with(
        Block::Table(Table::new(
            columns.iter().map(|c| (*c).to_owned()).collect(),
            rows.iter()
                .map(|r| r.iter().map(|c| (*c).to_owned()).collect())
                .collect(),
        )),
    );
    snapshot("env_table", &reply);
}

#[test]
fn status_card_with_fields_and_link() {
    let fields: Vec<(String, String)> = (0..12)
        .map(|i| (format!("field {i}"), format!("value <{i}>")))
        .collect();
    let reply = Reply::text(Tone::Info, "`dev-foo`")
        .with(Block::Fields { fields })
        .with(Block::Link {
            label: "Open dev-foo".to_owned(),
            url: "http://dev-foo.localhost:8080/?a=1&b=2".to_owned(),
        });
    snapshot("status_card", &reply);
}

#[test]
fn progress() {
    let reply = Reply::text(
        Tone::Progress,
        "Working on `dev-foo` (operation #3, 2s so far)…",
    )
    .with(Block::Text {
        text: "building release f00f00f".to_owned(),
    })
    .button(Button::new("Cancel", "cancel dev-foo").danger());
    snapshot("progress", &reply);
}

#[test]
fn success_with_link_and_buttons() {
    let reply = Reply::text(Tone::Success, "`dev-foo` is ready (4s).")
        .with(Block::Link {
            label: "Open dev-foo".to_owned(),
            url: "http://dev-foo.localhost:8080".to_owned(),
        })
        .button(Button::new(
            "Deploy to staging",
            "deploy dev-foo to staging",
        ))
        .button(Button::new("Destroy", "destroy dev-foo").danger());
    snapshot("success", &reply);
}

/// The Robot's answer to `which environments are running` for a realistic
/// morning (prod and staging on main, staging locked with one waiting, a
/// feature env), as Slack gets it; the words come from the Robot itself.
fn robot_env_list() -> Reply {
    use std::sync::Arc;

    use rushbox_chat::{Actor, Incoming, Robot};
    use rushbox_pipeline::config::{PipelineConfig, RolesConfig};
    use rushbox_pipeline::engine::ManualClock;
    use rushbox_pipeline::{Engine, FixedRefs, NoopProvider};

    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(1_800_000_000));
    let config = PipelineConfig {
        roles: RolesConfig {
            leads: vec!["slack:T1:U0LENA".to_owned()],
            developers: vec!["slack:T1:*".to_owned()],
        },
        ..PipelineConfig::default()
    };
    let refs = FixedRefs::new([
        ("main", "1111111111111111111111111111111111111111"),
        (
            "feature/login-redesign",
            "10c1210c1210c1210c1210c1210c1210c1210c12",
        ),
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
            actor: Actor::new("slack:T1", who, who),
            channel: "C1".to_owned(),
            text: text.to_owned(),
            reply_to: None,
        });
        for mut feed in answer.progress {
            while feed.next_blocking().is_some() {}
        }
        answer.reply
    };
    say("U0LENA", "deploy main to staging");
    say("U0LENA", "promote staging to prod");
    clock.advance(3 * 3600);
    say("U0ALICE", "deploy branch feature/login-redesign to dev");
    clock.advance(1800);
    say("U0BOB", "lock staging for QA on the checkout flow");
    say("U0ALICE", "queue me for staging");
    clock.advance(300);
    say("U0ALICE", "which environments are running")
}

/// On a phone an env is one short section: the env, its state and owner
/// (or lock) on the first line, then a few lines short enough to wrap at
/// most once on a narrow screen.
#[test]
fn env_list_reads_on_a_phone() {
    let reply = robot_env_list();
    snapshot("env_list_from_the_robot", &reply);
    let blocks = serde_json::to_value(rushbox_slack::render::blocks(&reply)).unwrap();
    let sections: Vec<&str> = blocks
        .as_array()
        .unwrap()
        .iter()
        .skip(1)
        .map(|b| b["text"]["text"].as_str().unwrap())
        .collect();
    assert_eq!(sections.len(), 3, "one section per env: {sections:#?}");
    for (section, first) in sections.iter().zip([
        "*dev-feature-login-redesign* · running · <@U0ALICE>",
        "*prod* · running",
        "*staging* · running · 🔒 <@U0BOB> · 1 waiting",
    ]) {
        let lines: Vec<&str> = section.lines().collect();
        assert_eq!(lines[0], first);
        assert!(lines.len() <= 5, "{section}");
        for line in lines {
            assert!(line.chars().count() <= 60, "too wide for a phone: {line:?}");
        }
    }
}
