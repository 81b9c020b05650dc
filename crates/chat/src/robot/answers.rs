//! The renderers of what the engine says into [`Reply`]s: the env table
//! and its narrow-screen records, the status card, lock and queue answers,
//! the history table, an operation's output, refusals and rejections. They
//! are pure functions of engine views, so they are tested on built values.

use rushbox_command::{Command, EnvName, Rejection};
use rushbox_pipeline::engine::{EnvStatus, EnvView, LockView, QueueView};
use rushbox_pipeline::model::{AuditEntry, AuditOutcome, OpState, Operation};
use rushbox_pipeline::policy::{human_duration, short};
use rushbox_pipeline::{Actor as ActorId, EngineError};

use crate::model::{Block, Button, Record, Reply, Table, Tone};

/// How many recorded steps `logs` shows.
pub(super) const LOG_LINES: usize = 30;

/// How a person is shown: the id's last part, as a mention-like `@name`.
pub fn who(actor: &ActorId) -> String {
    let id = actor.as_str();
    format!("@{}", id.rsplit(':').next().unwrap_or(id))
}

/// The engine names people by id (`shell:alice`, `slack:T1:U1`); people read
/// `@alice`. Rewrites ids of the given platform in a reply's texts.
pub(super) fn humanize(reply: &mut Reply, platform: &str) {
    let prefix = format!("{platform}:");
    let fix = |text: &mut String| {
        if text.contains(&prefix) {
            *text = text.replace(&prefix, "@");
        }
    };
    for block in &mut reply.blocks {
        match block {
            Block::Text { text } => fix(text),
            Block::List { items } => items.iter_mut().for_each(fix),
            Block::Fields { fields } => fields.iter_mut().for_each(|(_, v)| fix(v)),
            Block::Table(table) => {
                table.rows.iter_mut().flatten().for_each(fix);
                for record in &mut table.records {
                    fix(&mut record.title);
                    record.lines.iter_mut().for_each(fix);
                }
            }
            Block::Link { .. } => {}
        }
    }
}

/// A button that runs `command`, labelled with its canonical text, so a click
/// runs exactly what the button says.
pub(super) fn command_button(command: &Command) -> Button {
    let text = command.to_string();
    Button::new(&text, text.clone())
}

pub(super) fn refused(error: &EngineError) -> Reply {
    match error {
        EngineError::Refused(refusal) => {
            let items: Vec<String> = refusal
                .blockers
                .iter()
                .map(|b| format!("{b} → {}", b.fix()))
                .collect();
            let mut reply =
                Reply::text(Tone::Refused, "I can't do that:").with(Block::List { items });
            // One button per blocker: the asker's own next step, never a
            // command the fix asks someone else to run.
            for blocker in &refusal.blockers {
                if let Some(command) = blocker.fix().runnable() {
                    reply = reply.button(command_button(&command));
                }
            }
            reply
        }
        EngineError::AlreadyHandled { .. } => Reply::text(Tone::Info, error.to_string()),
        EngineError::Store(error) => Reply::text(
            Tone::Error,
            format!(
                "Nothing was changed: the state store failed ({error}). Try again; if it persists, check the disk."
            ),
        ),
    }
}

pub(super) fn rejected(rejection: &Rejection) -> Reply {
    let tone = match rejection {
        Rejection::Unknown { .. } => Tone::Info,
        Rejection::Invalid { .. } => Tone::Refused,
    };
    let mut reply = Reply::text(tone, rejection.to_string());
    for suggestion in rejection.suggestions().iter().filter(|s| !s.contains('<')) {
        reply = reply.button(Button::new(suggestion, suggestion.clone()));
    }
    reply
}

fn or_dash(value: Option<String>) -> String {
    value.unwrap_or_else(|| "–".to_owned())
}

/// Who holds or is offered the env's lock, and how many wait for it.
fn lock_parts(view: &EnvView) -> Vec<String> {
    let mut parts = Vec::new();
    if let Some(lock) = &view.lock {
        parts.push(match lock.claim_within {
            Some(_) => format!("offered to {}", who(&lock.holder)),
            None => format!("🔒 {}", who(&lock.holder)),
        });
    }
    if !view.queue.is_empty() {
        parts.push(format!("{} waiting", view.queue.len()));
    }
    parts
}

/// When a dev env is destroyed and when it goes to sleep.
fn timer_parts(view: &EnvView) -> Vec<String> {
    let mut parts = Vec::new();
    if let Some(ttl) = view.ttl_left {
        parts.push(format!("expires in {}", human_duration(ttl)));
    }
    if let Some(idle) = view.idle_left {
        parts.push(format!("sleeps in {}", human_duration(idle)));
    }
    parts
}

/// Parts of a table cell, or a dash for none.
fn cell(parts: &[String]) -> String {
    if parts.is_empty() {
        "–".to_owned()
    } else {
        parts.join(", ")
    }
}

fn timers_cell(view: &EnvView) -> String {
    cell(&timer_parts(view))
}

pub(super) fn env_table(views: &[EnvView]) -> Reply {
    if views.is_empty() {
        return Reply::text(
            Tone::Info,
            "No environments yet. Start one with `deploy branch <ref> to dev`.",
        );
    }
    let columns = [
        "env",
        "app",
        "branch",
        "commit",
        "owner",
        "state",
        "age",
        "last activity",
        "address",
        "lock / queue",
        "ttl / idle",
    ];
    let rows = views.iter().map(|v| {
        let (locks, timers) = (lock_parts(v), timer_parts(v));
        let record = env_record(v, &locks, &timers);
        let row = vec![
            v.env.to_string(),
            v.app.to_string(),
            or_dash(v.branch.as_ref().map(|b| b.to_string())),
            or_dash(v.commit.as_deref().map(|c| short(c).to_owned())),
            or_dash(v.owner.as_ref().map(who)),
            state_text(v),
            human_duration(v.age),
            format!("{} ago", human_duration(v.idle_for)),
            or_dash(v.address.clone()),
            cell(&locks),
            cell(&timers),
        ];
        (row, record)
    });
    Reply::text(Tone::Info, format!("{} environment(s):", views.len())).with(Block::Table(
        Table::with_records(columns.iter().map(|c| (*c).to_owned()).collect(), rows),
    ))
}

/// One env on a narrow screen, the key facts first and every line short:
///
/// ```text
/// dev-foo  running · @alice
///   branch foo · commit f00f00f00f · app web
///   http://dev-foo.localhost:8080
///   created 3h ago · last activity 5m ago
///   expires in 3d · sleeps in 1h 55m
/// ```
fn env_record(v: &EnvView, locks: &[String], timers: &[String]) -> Record {
    use std::fmt::Write as _;
    let mut headline = state_text(v);
    for part in v.owner.as_ref().map(who).iter().chain(locks) {
        let _ = write!(headline, " · {part}");
    }
    let mut what = String::new();
    if let Some(branch) = &v.branch {
        let _ = write!(what, "branch {branch} · ");
    }
    if let Some(commit) = &v.commit {
        let _ = write!(what, "commit {} · ", short(commit));
    }
    let _ = write!(what, "app {}", v.app);
    let mut lines = vec![headline, what];
    lines.extend(v.address.clone());
    lines.push(format!(
        "created {} ago · last activity {} ago",
        human_duration(v.age),
        human_duration(v.idle_for)
    ));
    if !timers.is_empty() {
        lines.push(timers.join(" · "));
    }
    Record {
        title: v.env.to_string(),
        lines,
    }
}

fn lock_text(lock: &LockView) -> String {
    match lock.claim_within {
        Some(left) => format!(
            "offered to {} (claim within {})",
            who(&lock.holder),
            human_duration(left)
        ),
        None => format!(
            "locked by {} for \"{}\", {} ago (lease ends in {})",
            who(&lock.holder),
            lock.reason,
            human_duration(lock.held_for),
            human_duration(lock.expires_in)
        ),
    }
}

/// The env's state, or how its app keeps crashing while it should run.
fn state_text(view: &EnvView) -> String {
    match &view.crash_loop {
        Some(crashing) => crashing.to_string(),
        None => view.state.to_string(),
    }
}

pub(super) fn status_card(status: &EnvStatus) -> Reply {
    let v = &status.view;
    let mut state = state_text(v);
    if v.crash_loop.is_some() {
        state.push_str(&format!("; see `logs {}`", v.env));
    }
    let mut fields = vec![
        ("app".to_owned(), v.app.to_string()),
        ("state".to_owned(), state),
        (
            "branch".to_owned(),
            or_dash(v.branch.as_ref().map(|b| b.to_string())),
        ),
        (
            "commit".to_owned(),
            or_dash(v.commit.as_deref().map(|c| short(c).to_owned())),
        ),
        ("release".to_owned(), or_dash(v.release.clone())),
        ("owner".to_owned(), or_dash(v.owner.as_ref().map(who))),
        ("address".to_owned(), or_dash(v.address.clone())),
        ("lock".to_owned(), or_dash(v.lock.as_ref().map(lock_text))),
        (
            "queue".to_owned(),
            or_dash((!v.queue.is_empty()).then(|| names(&v.queue))),
        ),
        ("age".to_owned(), human_duration(v.age)),
        (
            "last activity".to_owned(),
            format!("{} ago", human_duration(v.idle_for)),
        ),
        ("ttl / idle".to_owned(), timers_cell(v)),
    ];
    if let Some(op) = &status.last_operation {
        fields.push(("last operation".to_owned(), operation_line(op)));
    }
    let mut reply = Reply::text(Tone::Info, format!("`{}`", v.env)).with(Block::Fields { fields });
    if let Some(url) = &v.address {
        reply = reply.with(Block::Link {
            label: format!("Open {}", v.env),
            url: url.clone(),
        });
    }
    reply
}

fn operation_line(op: &Operation) -> String {
    let state = match &op.state {
        OpState::Running => "running".to_owned(),
        OpState::Succeeded => "succeeded".to_owned(),
        OpState::Failed { error } => format!("failed: {error}"),
        OpState::Cancelled => "cancelled".to_owned(),
        OpState::Interrupted => "interrupted by a restart".to_owned(),
    };
    format!(
        "#{} {} by {}, {state}",
        op.id,
        op.kind,
        who(&op.requested_by)
    )
}

fn names(actors: &[ActorId]) -> String {
    actors.iter().map(who).collect::<Vec<_>>().join(", ")
}

pub(super) fn lock_answer(queue: &QueueView, asker: &ActorId) -> Reply {
    let env = &queue.env;
    match &queue.lock {
        None => Reply::text(
            Tone::Info,
            format!("`{env}` is free: `lock {env} for <reason>` takes it."),
        ),
        Some(lock) => {
            let mut text = format!("`{env}` is {}.", lock_text(lock));
            if !queue.waiting.is_empty() {
                text.push_str(&format!(" Waiting: {}.", names(&queue.waiting)));
            }
            let reply = Reply::text(Tone::Info, text);
            if &lock.holder == asker || queue.waiting.contains(asker) {
                reply
            } else {
                reply.button(Button::new("Queue me", format!("queue me for {env}")))
            }
        }
    }
}

pub(super) fn queue_answer(queue: &QueueView) -> Reply {
    let env = &queue.env;
    let holder = match &queue.lock {
        Some(lock) => format!("`{env}` is {}.", lock_text(lock)),
        None => format!("`{env}` is free."),
    };
    if queue.waiting.is_empty() {
        return Reply::text(Tone::Info, format!("{holder} Nobody is waiting."));
    }
    let items = queue
        .waiting
        .iter()
        .enumerate()
        .map(|(i, a)| format!("{}. {}", i + 1, who(a)))
        .collect();
    Reply::text(Tone::Info, format!("{holder} In line:")).with(Block::List { items })
}

pub(super) fn history_table(entries: &[AuditEntry], env: Option<&EnvName>, now: u64) -> Reply {
    let subject = env.map_or("anything".to_owned(), |e| format!("`{e}`"));
    if entries.is_empty() {
        return Reply::text(
            Tone::Info,
            format!("Nothing has happened to {subject} yet."),
        );
    }
    let rows = entries.iter().map(|e| {
        let outcome = match &e.outcome {
            AuditOutcome::Done { message } => message.clone(),
            AuditOutcome::Refused { blockers } => format!("refused: {}", blockers.join("; ")),
        };
        let when = format!("{} ago", human_duration(now.saturating_sub(e.at)));
        // A narrow screen: when, then who asked what, then what came of it.
        let record = Record {
            title: when.clone(),
            lines: vec![format!("{}: {}", who(&e.actor), e.call), outcome.clone()],
        };
        (vec![when, who(&e.actor), e.call.clone(), outcome], record)
    });
    Reply::text(Tone::Info, format!("Latest for {subject}, newest first:")).with(Block::Table(
        Table::with_records(
            ["when", "who", "what", "outcome"]
                .iter()
                .map(|c| (*c).to_owned())
                .collect(),
            rows,
        ),
    ))
}

pub(super) fn logs_answer(env: &EnvName, op: Option<&Operation>) -> Reply {
    let Some(op) = op else {
        return Reply::text(
            Tone::Info,
            format!("`{env}` has no operations yet, so no output."),
        );
    };
    let start = op.steps.len().saturating_sub(LOG_LINES);
    let mut reply = Reply::text(
        Tone::Info,
        format!(
            "Output of the last operation on `{env}`: {}",
            operation_line(op)
        ),
    );
    if op.steps.is_empty() {
        reply = reply.with(Block::Text {
            text: "(it printed nothing)".to_owned(),
        });
    } else {
        reply = reply.with(Block::List {
            items: op.steps[start..].to_vec(),
        });
    }
    reply
}

#[cfg(test)]
mod tests {
    use rushbox_command::{AppName, GitRef};
    use rushbox_pipeline::engine::EnvView;
    use rushbox_pipeline::model::{EnvState, OpKind};
    use rushbox_pipeline::provider::CrashLoop;
    use rushbox_pipeline::{Blocker, Refusal};

    use super::*;

    fn actor(id: &str) -> ActorId {
        ActorId::parse(id).expect("a valid actor")
    }

    fn env(name: &str) -> EnvName {
        EnvName::parse(name).expect("a valid env name")
    }

    fn text(reply: &Reply) -> &str {
        reply.summary()
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    fn labels(reply: &Reply) -> Vec<(String, String)> {
        reply
            .buttons
            .iter()
            .map(|b| (b.label.clone(), b.command.clone()))
            .collect()
    }

    /// A running dev env of app `web`, on branch foo, owned by alice.
    fn dev_foo() -> EnvView {
        EnvView {
            app: AppName::parse("web").expect("a valid app"),
            env: env("dev-foo"),
            branch: Some(GitRef::parse("foo").expect("a valid ref")),
            commit: Some("f00f00f00f00f00f00f00f00f00f00f00f00f00f".to_owned()),
            release: Some("r3".to_owned()),
            owner: Some(actor("shell:alice")),
            state: EnvState::Running,
            age: 3 * 3600,
            idle_for: 5 * 60,
            address: Some("http://dev-foo.localhost:8080".to_owned()),
            lock: None,
            queue: Vec::new(),
            ttl_left: Some(3 * 86400),
            idle_left: Some(3600 + 55 * 60),
            operation: None,
            crash_loop: None,
        }
    }

    /// Staging, shared, locked by alice for 2h with its lease ending in 1h.
    fn locked_staging() -> EnvView {
        EnvView {
            env: env("staging"),
            branch: None,
            commit: None,
            release: None,
            owner: None,
            address: None,
            ttl_left: None,
            idle_left: None,
            lock: Some(LockView {
                holder: actor("shell:alice"),
                reason: "release testing".to_owned(),
                since: 1_000,
                held_for: 2 * 3600,
                expires_in: 3600,
                claim_within: None,
            }),
            queue: vec![actor("shell:bob"), actor("shell:carol")],
            ..dev_foo()
        }
    }

    fn operation(state: OpState, steps: &[&str]) -> Operation {
        Operation {
            id: 7,
            app: AppName::parse("web").expect("a valid app"),
            env: env("dev-foo"),
            kind: OpKind::Deploy,
            requested_by: actor("shell:alice"),
            started_at: 1_000,
            finished_at: None,
            state,
            requests: Vec::new(),
            steps: strings(steps),
            command: None,
        }
    }

    #[test]
    fn no_envs_says_how_to_start_one() {
        let reply = env_table(&[]);
        assert_eq!(
            reply,
            Reply::text(
                Tone::Info,
                "No environments yet. Start one with `deploy branch <ref> to dev`."
            )
        );
    }

    #[test]
    fn a_dev_env_fills_every_column_and_its_record() {
        let reply = env_table(&[dev_foo()]);
        assert_eq!(text(&reply), "1 environment(s):");
        let Some(Block::Table(table)) = reply.blocks.get(1) else {
            panic!("no table in {reply:?}");
        };
        assert_eq!(
            table.columns,
            strings(&[
                "env",
                "app",
                "branch",
                "commit",
                "owner",
                "state",
                "age",
                "last activity",
                "address",
                "lock / queue",
                "ttl / idle",
            ])
        );
        assert_eq!(
            table.rows,
            vec![strings(&[
                "dev-foo",
                "web",
                "foo",
                "f00f00f00f",
                "@alice",
                "running",
                "3h",
                "5m ago",
                "http://dev-foo.localhost:8080",
                "–",
                "expires in 3d, sleeps in 1h 55m",
            ])]
        );
        assert_eq!(
            table.records,
            vec![Record {
                title: "dev-foo".to_owned(),
                lines: strings(&[
                    "running · @alice",
                    "branch foo · commit f00f00f00f · app web",
                    "http://dev-foo.localhost:8080",
                    "created 3h ago · last activity 5m ago",
                    "expires in 3d · sleeps in 1h 55m",
                ]),
            }]
        );
    }

    #[test]
    fn a_locked_staging_in_the_table_shows_holder_and_queue_length_and_dashes() {
        let reply = env_table(&[locked_staging()]);
        let Some(Block::Table(table)) = reply.blocks.get(1) else {
            panic!("no table in {reply:?}");
        };
        assert_eq!(
            table.rows[0],
            strings(&[
                "staging",
                "web",
                "–",
                "–",
                "–",
                "running",
                "3h",
                "5m ago",
                "–",
                "🔒 @alice, 2 waiting",
                "–",
            ])
        );
        assert_eq!(
            table.records[0].lines,
            strings(&[
                "running · 🔒 @alice · 2 waiting",
                "app web",
                "created 3h ago · last activity 5m ago",
            ])
        );
    }

    #[test]
    fn an_offered_lock_in_the_table_names_who_it_is_offered_to() {
        let mut staging = locked_staging();
        if let Some(lock) = staging.lock.as_mut() {
            lock.claim_within = Some(5 * 60);
        }
        staging.queue.clear();
        let reply = env_table(&[staging]);
        let Some(Block::Table(table)) = reply.blocks.get(1) else {
            panic!("no table in {reply:?}");
        };
        assert_eq!(table.rows[0][9], "offered to @alice");
    }

    #[test]
    fn an_env_in_a_crash_loop_shows_crashing_and_the_logs_hint() {
        let mut view = dev_foo();
        view.crash_loop = Some(CrashLoop {
            restarts: 3,
            last_exit: "exit status 1".to_owned(),
        });
        let card = status_card(&EnvStatus {
            view: view.clone(),
            last_operation: None,
        });
        let Some(Block::Fields { fields }) = card.blocks.get(1) else {
            panic!("no fields in {card:?}");
        };
        assert_eq!(
            fields[1],
            (
                "state".to_owned(),
                "crashing (restarted 3 times, last exit: exit status 1); see `logs dev-foo`"
                    .to_owned()
            )
        );
        // The table has no room for the hint, only the state.
        let Some(Block::Table(table)) = env_table(&[view]).blocks.get(1).cloned() else {
            panic!("no table");
        };
        assert_eq!(
            table.rows[0][5],
            "crashing (restarted 3 times, last exit: exit status 1)"
        );
    }

    #[test]
    fn a_status_card_lists_every_field_in_order_and_links_the_address() {
        let card = status_card(&EnvStatus {
            view: dev_foo(),
            last_operation: Some(operation(OpState::Succeeded, &[])),
        });
        let fields = [
            ("app", "web"),
            ("state", "running"),
            ("branch", "foo"),
            ("commit", "f00f00f00f"),
            ("release", "r3"),
            ("owner", "@alice"),
            ("address", "http://dev-foo.localhost:8080"),
            ("lock", "–"),
            ("queue", "–"),
            ("age", "3h"),
            ("last activity", "5m ago"),
            ("ttl / idle", "expires in 3d, sleeps in 1h 55m"),
            ("last operation", "#7 deploy by @alice, succeeded"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        let expected = Reply::text(Tone::Info, "`dev-foo`")
            .with(Block::Fields { fields })
            .with(Block::Link {
                label: "Open dev-foo".to_owned(),
                url: "http://dev-foo.localhost:8080".to_owned(),
            });
        assert_eq!(card, expected);
    }

    #[test]
    fn a_locked_staging_status_card_renders_holder_reason_since_lease_and_the_queue_in_order() {
        let card = status_card(&EnvStatus {
            view: locked_staging(),
            last_operation: None,
        });
        let Some(Block::Fields { fields }) = card.blocks.get(1) else {
            panic!("no fields in {card:?}");
        };
        let field = |name: &str| {
            fields
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(
            field("lock"),
            Some("locked by @alice for \"release testing\", 2h ago (lease ends in 1h)")
        );
        assert_eq!(field("queue"), Some("@bob, @carol"));
        assert_eq!(field("last operation"), None);
        // No address, so nothing to open.
        assert_eq!(card.blocks.len(), 2);
    }

    fn staging_queue() -> QueueView {
        let view = locked_staging();
        QueueView {
            env: view.env,
            lock: view.lock,
            waiting: view.queue,
        }
    }

    #[test]
    fn lock_answers_read_like_the_product() {
        let free = QueueView {
            lock: None,
            waiting: Vec::new(),
            ..staging_queue()
        };
        let locked = "`staging` is locked by @alice for \"release testing\", 2h ago (lease ends in 1h). Waiting: @bob, @carol.";
        let queue_me = vec![("Queue me".to_owned(), "queue me for staging".to_owned())];
        let cases = [
            (
                "a free env says how to take it",
                free,
                "shell:dave",
                "`staging` is free: `lock staging for <reason>` takes it.",
                vec![],
            ),
            (
                "a stranger is offered the queue",
                staging_queue(),
                "shell:dave",
                locked,
                queue_me,
            ),
            (
                "the holder gets no button",
                staging_queue(),
                "shell:alice",
                locked,
                vec![],
            ),
            (
                "someone already waiting gets no button",
                staging_queue(),
                "shell:carol",
                locked,
                vec![],
            ),
        ];
        for (case, queue, asker, expected, buttons) in cases {
            let reply = lock_answer(&queue, &actor(asker));
            assert_eq!(reply.tone, Tone::Info, "{case}");
            assert_eq!(text(&reply), expected, "{case}");
            assert_eq!(labels(&reply), buttons, "{case}");
        }
    }

    #[test]
    fn an_offered_lock_says_how_long_is_left_to_claim_it() {
        let mut queue = staging_queue();
        queue.waiting.clear();
        if let Some(lock) = queue.lock.as_mut() {
            lock.claim_within = Some(10 * 60);
        }
        let reply = lock_answer(&queue, &actor("shell:dave"));
        assert_eq!(
            text(&reply),
            "`staging` is offered to @alice (claim within 10m)."
        );
    }

    #[test]
    fn a_locked_staging_with_a_queue_of_two_renders_holder_reason_since_and_the_queue_in_order() {
        let reply = queue_answer(&staging_queue());
        let expected = Reply::text(
            Tone::Info,
            "`staging` is locked by @alice for \"release testing\", 2h ago (lease ends in 1h). In line:",
        )
        .with(Block::List {
            items: strings(&["1. @bob", "2. @carol"]),
        });
        assert_eq!(reply, expected);
    }

    #[test]
    fn an_empty_queue_says_nobody_is_waiting() {
        let free = QueueView {
            lock: None,
            waiting: Vec::new(),
            ..staging_queue()
        };
        assert_eq!(
            queue_answer(&free),
            Reply::text(Tone::Info, "`staging` is free. Nobody is waiting.")
        );
    }

    #[test]
    fn history_shows_when_who_what_and_outcome_as_rows_and_records() {
        let entries = vec![
            AuditEntry {
                seq: 2,
                at: 10_000 - 120,
                actor: actor("shell:bob"),
                app: None,
                env: Some(env("staging")),
                call: "lock staging".to_owned(),
                outcome: AuditOutcome::Refused {
                    blockers: strings(&["staging is locked by shell:alice", "no reason"]),
                },
                delivery: None,
            },
            AuditEntry {
                seq: 1,
                at: 10_000 - 2 * 3600,
                actor: actor("shell:alice"),
                app: None,
                env: Some(env("staging")),
                call: "lock staging for release testing".to_owned(),
                outcome: AuditOutcome::Done {
                    message: "locked".to_owned(),
                },
                delivery: None,
            },
        ];
        let reply = history_table(&entries, Some(&env("staging")), 10_000);
        let rows = vec![
            (
                strings(&[
                    "2m ago",
                    "@bob",
                    "lock staging",
                    "refused: staging is locked by shell:alice; no reason",
                ]),
                Record {
                    title: "2m ago".to_owned(),
                    lines: strings(&[
                        "@bob: lock staging",
                        "refused: staging is locked by shell:alice; no reason",
                    ]),
                },
            ),
            (
                strings(&[
                    "2h ago",
                    "@alice",
                    "lock staging for release testing",
                    "locked",
                ]),
                Record {
                    title: "2h ago".to_owned(),
                    lines: strings(&["@alice: lock staging for release testing", "locked"]),
                },
            ),
        ];
        let expected =
            Reply::text(Tone::Info, "Latest for `staging`, newest first:").with(Block::Table(
                Table::with_records(strings(&["when", "who", "what", "outcome"]), rows),
            ));
        assert_eq!(reply, expected);
    }

    #[test]
    fn empty_history_names_its_subject() {
        assert_eq!(
            text(&history_table(&[], None, 0)),
            "Nothing has happened to anything yet."
        );
        assert_eq!(
            text(&history_table(&[], Some(&env("dev-foo")), 0)),
            "Nothing has happened to `dev-foo` yet."
        );
    }

    #[test]
    fn logs_show_the_last_operation_and_at_most_the_last_lines() {
        assert_eq!(
            logs_answer(&env("dev-foo"), None),
            Reply::text(Tone::Info, "`dev-foo` has no operations yet, so no output.")
        );
        let silent = operation(OpState::Running, &[]);
        assert_eq!(
            logs_answer(&env("dev-foo"), Some(&silent)),
            Reply::text(
                Tone::Info,
                "Output of the last operation on `dev-foo`: #7 deploy by @alice, running"
            )
            .with(Block::Text {
                text: "(it printed nothing)".to_owned()
            })
        );
        let lines: Vec<String> = (1..=LOG_LINES + 2).map(|i| format!("step {i}")).collect();
        let mut long = operation(
            OpState::Failed {
                error: "exit 2".to_owned(),
            },
            &[],
        );
        long.steps = lines.clone();
        assert_eq!(
            logs_answer(&env("dev-foo"), Some(&long)),
            Reply::text(
                Tone::Info,
                "Output of the last operation on `dev-foo`: #7 deploy by @alice, failed: exit 2"
            )
            .with(Block::List {
                items: lines[2..].to_vec()
            })
        );
    }

    #[test]
    fn operation_lines_say_how_each_state_ended() {
        let cases = [
            (OpState::Cancelled, "#7 deploy by @alice, cancelled"),
            (
                OpState::Interrupted,
                "#7 deploy by @alice, interrupted by a restart",
            ),
        ];
        for (state, expected) in cases {
            assert_eq!(operation_line(&operation(state, &[])), expected);
        }
    }

    #[test]
    fn a_refusal_with_two_blockers_lists_both_with_their_fixes_and_one_button_per_fix_command() {
        let refusal = Refusal {
            blockers: vec![
                Blocker::LockedBy {
                    env: env("staging"),
                    holder: actor("shell:alice"),
                    reason: "release testing".to_owned(),
                    since: 1_000,
                    held_for: 2 * 3600,
                },
                Blocker::WrongState {
                    env: env("dev-foo"),
                    state: EnvState::Suspended,
                },
            ],
        };
        let expected = Reply::text(Tone::Refused, "I can't do that:")
            .with(Block::List {
                items: strings(&[
                    "staging is locked by shell:alice for \"release testing\" since 2h ago → `queue me for staging`, or ask shell:alice to `unlock staging`",
                    "dev-foo is suspended → `wake dev-foo`",
                ]),
            })
            .button(Button::new("queue me for staging", "queue me for staging"))
            .button(Button::new("wake dev-foo", "wake dev-foo"));
        assert_eq!(refused(&EngineError::Refused(refusal)), expected);
    }

    #[test]
    fn a_fix_with_only_a_template_command_gets_no_button() {
        let refusal = Refusal {
            blockers: vec![Blocker::ReasonRequired {
                env: env("staging"),
            }],
        };
        let reply = refused(&EngineError::Refused(refusal));
        assert_eq!(reply.buttons, vec![]);
    }

    /// A button is the asker's own next step: `queue me for staging` for a
    /// held lock, never the `unlock staging` the fix asks the holder to run.
    #[test]
    fn a_refusal_offers_no_button_for_a_command_meant_for_someone_else() {
        let cases: Vec<(Blocker, Vec<&str>)> = vec![
            (
                Blocker::LockedBy {
                    env: env("staging"),
                    holder: actor("shell:alice"),
                    reason: "release testing".to_owned(),
                    since: 1_000,
                    held_for: 60,
                },
                vec!["queue me for staging"],
            ),
            (
                Blocker::NotHolder {
                    env: env("staging"),
                    holder: actor("shell:alice"),
                },
                vec![],
            ),
            (
                Blocker::RecipientAtLimit {
                    to: actor("shell:bob"),
                    max: 2,
                },
                vec![],
            ),
        ];
        for (blocker, buttons) in cases {
            let says = blocker.fix().to_string();
            let reply = refused(&EngineError::Refused(Refusal {
                blockers: vec![blocker],
            }));
            let expected: Vec<(String, String)> = buttons
                .iter()
                .map(|b| ((*b).to_owned(), (*b).to_owned()))
                .collect();
            assert_eq!(labels(&reply), expected, "{says}");
            assert!(says.contains('`'), "the fix still names a command: {says}");
        }
    }

    /// What a button runs is the fix's command, and it reads back as it.
    #[test]
    fn refusal_buttons_run_the_fix_command_as_the_grammar_reads_it() {
        let blockers = vec![
            Blocker::EnvBusy {
                env: env("dev-foo"),
                operation: 7,
                kind: OpKind::Deploy,
                by: actor("shell:alice"),
            },
            Blocker::NothingToRollBack {
                env: env("staging"),
            },
            Blocker::OutOfOrder {
                from: env("prod"),
                to: env("staging"),
            },
        ];
        let commands: Vec<Command> = blockers.iter().filter_map(|b| b.fix().runnable()).collect();
        let reply = refused(&EngineError::Refused(Refusal { blockers }));
        let grammar = rushbox_command::Grammar::new();
        let clicked: Vec<Command> = reply
            .buttons
            .iter()
            .map(|b| grammar.parse(&b.command).expect("a button runs a command"))
            .collect();
        assert_eq!(clicked, commands);
        assert_eq!(
            labels(&reply),
            ["cancel dev-foo", "history staging", "reset staging to prod"]
                .map(|c| (c.to_owned(), c.to_owned()))
        );
    }

    #[test]
    fn a_redelivered_message_is_information_not_a_refusal() {
        let error = EngineError::AlreadyHandled {
            delivery: "Ev1".to_owned(),
        };
        let reply = refused(&error);
        assert_eq!(reply, Reply::text(Tone::Info, error.to_string()));
    }

    #[test]
    fn humanize_rewrites_ids_of_the_platform_in_every_block() {
        let mut reply = Reply::text(Tone::Info, "given to shell:bob")
            .with(Block::List {
                items: strings(&["shell:carol", "slack:T1:U1"]),
            })
            .with(Block::Fields {
                fields: vec![("owner".to_owned(), "shell:bob".to_owned())],
            });
        humanize(&mut reply, "shell");
        let expected = Reply::text(Tone::Info, "given to @bob")
            .with(Block::List {
                items: strings(&["@carol", "slack:T1:U1"]),
            })
            .with(Block::Fields {
                fields: vec![("owner".to_owned(), "@bob".to_owned())],
            });
        assert_eq!(reply, expected);
    }

    #[test]
    fn who_shows_the_last_part_of_an_id() {
        assert_eq!(who(&actor("slack:T1:U1")), "@U1");
        assert_eq!(who(&actor("rushbox")), "@rushbox");
    }
}
