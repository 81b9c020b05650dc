//! The exact Block Kit JSON Slack receives for each kind of reply.
//! Expected JSON lives in `tests/snapshots/<name>.json`; after a deliberate
//! change, `UPDATE_SNAPSHOTS=1 cargo test -p rushbox-slack --test render`
//! rewrites them, and the diff is reviewed like code.

use rushbox_chat::{Block, Button, Reply, Tone};
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
    let reply =
        Reply::text(Tone::Info, format!("{} environment(s):", rows.len())).with(Block::Table {
            columns: columns.iter().map(|c| (*c).to_owned()).collect(),
            rows: rows
                .iter()
                .map(|r| r.iter().map(|c| (*c).to_owned()).collect())
                .collect(),
        });
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
