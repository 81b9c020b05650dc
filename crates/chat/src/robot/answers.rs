//! The renderers of what the engine says into [`Reply`]s: the env table
//! and its narrow-screen records, the status card, lock and queue answers,
//! the history table, an operation's output, refusals and rejections. They
//! are pure functions of engine views, so they are tested on built values.

use rushbox_command::{EnvName, Rejection};
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

/// Commands quoted in a text (`` `queue me for staging` ``) that can run as they are.
pub(super) fn quoted_commands(text: &str) -> Vec<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter(|c| !c.contains('<') && !c.is_empty())
        .map(str::to_owned)
        .collect()
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
            // The first command of a fix is the asker's own next step; later
            // ones are for others ("ask @alice to `unlock staging`").
            for blocker in &refusal.blockers {
                if let Some(command) = quoted_commands(&blocker.fix()).into_iter().next() {
                    reply = reply.button(Button::new(&command.clone(), command));
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
