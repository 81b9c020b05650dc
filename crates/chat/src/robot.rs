//! The Robot: one [`Incoming`] in, one [`Answer`] out. It parses the text,
//! calls the engine as the person who wrote it, and turns what the engine
//! says into [`Reply`]s. It knows no platform; adapters render its replies.

use std::time::Instant;

use rushbox_command::{Command, EnvName, Grammar, Rejection, Stage, UserRef, help};
use rushbox_pipeline::engine::{EnvStatus, EnvView, LockView, QueueView};
use rushbox_pipeline::model::{AuditEntry, AuditOutcome, OpKind, OpState, Operation};
use rushbox_pipeline::policy::{human_duration, short};
use rushbox_pipeline::provider::Request;
use rushbox_pipeline::{Actor as ActorId, Engine, EngineError, OperationHandle, Progress};
use tokio::sync::broadcast;
use tokio::sync::mpsc::UnboundedReceiver;

use crate::model::{Actor, Block, Button, Incoming, Record, Reply, Table, Tone};

/// How many audit entries `history` shows.
const HISTORY_LINES: usize = 20;
/// How many recorded steps `logs` shows.
const LOG_LINES: usize = 30;

/// A message for someone other than the person who typed (a lock handed on,
/// an env given to them). Adapters deliver it by DM where they can.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub to: ActorId,
    pub reply: Reply,
}

/// Notices from the engine, as they are decided.
pub struct NoticeFeed {
    receiver: broadcast::Receiver<rushbox_pipeline::Notice>,
}

impl NoticeFeed {
    /// The next notice if one is waiting (for the shell's loop).
    pub fn try_next(&mut self) -> Option<Notice> {
        loop {
            match self.receiver.try_recv() {
                Ok(n) => return Some(notice(n)),
                // A slow reader missed some; carry on with the rest rather than stop.
                Err(broadcast::error::TryRecvError::Lagged(_)) => continue,
                Err(_) => return None,
            }
        }
    }

    /// [`NoticeFeed::next`] for threads outside an async runtime.
    pub fn next_blocking(&mut self) -> Option<Notice> {
        loop {
            match self.receiver.blocking_recv() {
                Ok(n) => return Some(notice(n)),
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }

    /// Waits for the next notice; `None` when the engine is gone.
    pub async fn next(&mut self) -> Option<Notice> {
        loop {
            match self.receiver.recv().await {
                Ok(n) => return Some(notice(n)),
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}

/// Everything one incoming message produces. What it tells other people
/// (a lock stolen, an env given) arrives on the [`NoticeFeed`], the one
/// channel for notices, like those decided outside any call.
#[derive(Debug)]
pub struct Answer {
    /// The reply to the person, sent at once. Decisions are stored before it exists.
    pub reply: Reply,
    /// Work that goes on: each feed gives the updated text of one message
    /// until the operation ends.
    pub progress: Vec<ProgressFeed>,
}

impl Answer {
    fn reply(reply: Reply) -> Answer {
        Answer {
            reply,
            progress: Vec::new(),
        }
    }

    /// What a granted engine call says: its message and the work it started.
    fn granted(tone: Tone, granted: rushbox_pipeline::Reply, dry_run: bool) -> Answer {
        Answer {
            reply: Reply::text(tone, granted.message),
            progress: granted
                .operations
                .into_iter()
                .map(|handle| ProgressFeed::new(handle, dry_run))
                .collect(),
        }
    }
}

/// The live view of one running operation: each event makes a new version
/// of one message (what is deployed, steps so far, elapsed time), ending
/// with what was deployed where, the env's address and the obvious next
/// commands, or with the error. Every version names what is deployed, as
/// a platform may show only the latest (Discord edits one message).
#[derive(Debug)]
pub struct ProgressFeed {
    pub operation: u64,
    pub app: String,
    pub env: EnvName,
    kind: OpKind,
    deploys: Option<Request>,
    /// Nothing really runs (see [`Robot::dry_run`]).
    dry_run: bool,
    started: Instant,
    steps: Vec<String>,
    events: UnboundedReceiver<Progress>,
    ended: Option<Reply>,
}

impl ProgressFeed {
    fn new(handle: OperationHandle, dry_run: bool) -> ProgressFeed {
        ProgressFeed {
            operation: handle.id,
            app: handle.app.to_string(),
            env: handle.env,
            kind: handle.kind,
            deploys: handle.deploys,
            dry_run,
            started: Instant::now(),
            steps: Vec::new(),
            events: handle.events,
            ended: None,
        }
    }

    /// True once the final version has been returned.
    pub fn is_done(&self) -> bool {
        self.ended.is_some()
    }

    /// Waits for the next event and returns the message as it now stands;
    /// `None` after the final version.
    pub async fn next(&mut self) -> Option<Reply> {
        if self.ended.is_some() {
            return None;
        }
        let event = self.events.recv().await;
        Some(self.apply(event))
    }

    /// [`ProgressFeed::next`] for threads outside an async runtime (the shell).
    pub fn next_blocking(&mut self) -> Option<Reply> {
        if self.ended.is_some() {
            return None;
        }
        let event = self.events.blocking_recv();
        Some(self.apply(event))
    }

    fn apply(&mut self, event: Option<Progress>) -> Reply {
        let elapsed = human_duration(self.started.elapsed().as_secs());
        let env = &self.env;
        match event {
            Some(Progress::Started) => self.running(&elapsed),
            Some(Progress::Step(line)) => {
                self.steps.push(line);
                self.running(&elapsed)
            }
            Some(Progress::Finished { address }) => {
                let reply = match self.kind {
                    OpKind::Suspend => Reply::text(
                        Tone::Success,
                        format!(
                            "`{env}` is suspended ({elapsed}); the next visit or `wake {env}` starts it again."
                        ),
                    ),
                    OpKind::Destroy => {
                        Reply::text(Tone::Success, format!("`{env}` is gone ({elapsed})."))
                    }
                    _ if self.dry_run => {
                        let what = self
                            .deploys
                            .as_ref()
                            .map(|d| format!(": {}", deployed(d)))
                            .unwrap_or_default();
                        let reply = Reply::text(
                            Tone::Success,
                            format!(
                                "`{env}` is recorded (noop provider: nothing was started; set `[provider] kind = \"local\"` to run it){what}."
                            ),
                        );
                        next_steps(reply, env)
                    }
                    _ => {
                        let text = match &self.deploys {
                            Some(deploys) => format!(
                                "`{env}` is ready: {}, {} in {elapsed}.",
                                deployed(deploys),
                                self.verb()
                            ),
                            None => format!("`{env}` is ready ({elapsed})."),
                        };
                        let mut reply = Reply::text(Tone::Success, text);
                        if let Some(url) = address {
                            reply = reply.with(Block::Link {
                                label: format!("Open {env}"),
                                url,
                            });
                        }
                        next_steps(reply, env)
                    }
                };
                self.ended = Some(reply.clone());
                reply
            }
            Some(Progress::Failed { error }) => {
                let reply = Reply::text(
                    Tone::Error,
                    format!(
                        "Operation #{} on `{env}` failed after {elapsed}: {error}",
                        self.operation
                    ),
                )
                .button(Button::new("Status", format!("status {env}")))
                .button(Button::new("Logs", format!("logs {env}")));
                self.ended = Some(reply.clone());
                reply
            }
            None => {
                let reply = Reply::text(
                    Tone::Error,
                    format!(
                        "Lost track of operation #{} on `{env}`; `status {env}` shows how it ended.",
                        self.operation
                    ),
                );
                self.ended = Some(reply.clone());
                reply
            }
        }
    }

    /// What the operation did, in the words of its last message.
    fn verb(&self) -> &'static str {
        match self.kind {
            OpKind::Promote => "promoted",
            OpKind::Rollback => "rolled back",
            OpKind::Reset => "reset",
            OpKind::Wake => "woken",
            _ => "deployed",
        }
    }

    fn running(&self, elapsed: &str) -> Reply {
        let env = &self.env;
        let what = self
            .deploys
            .as_ref()
            .map(|d| format!(": {}", deployed(d)))
            .unwrap_or_default();
        let mut reply = Reply::text(
            Tone::Progress,
            format!(
                "Working on `{env}` (operation #{}, {elapsed} so far){what}…",
                self.operation
            ),
        );
        if let Some(last) = self.steps.last() {
            reply = reply.with(Block::Text { text: last.clone() });
        }
        reply.button(Button::new("Cancel", format!("cancel {env}")).danger())
    }
}

/// What a deploy request puts on its env: `branch foo (f00f00f00f, release r3)`.
fn deployed(request: &Request) -> String {
    let mut about: Vec<String> = Vec::new();
    if let Some(commit) = &request.commit {
        about.push(short(commit).to_owned());
    }
    if let Some(release) = &request.release {
        about.push(format!("release {release}"));
    }
    let about = about.join(", ");
    match &request.git_ref {
        Some(git_ref) if about.is_empty() => format!("branch {git_ref}"),
        Some(git_ref) => format!("branch {git_ref} ({about})"),
        None => about,
    }
}

/// The buttons for what a person does next once an env is ready.
fn next_steps(reply: Reply, env: &EnvName) -> Reply {
    match env.stage() {
        Some(Stage::Dev) => reply
            .button(Button::new(
                "Deploy to staging",
                format!("deploy {env} to staging"),
            ))
            .button(Button::new("Destroy", format!("destroy {env}")).danger()),
        Some(Stage::Staging) => {
            reply.button(Button::new("Promote to prod", "promote staging to prod").danger())
        }
        _ => reply,
    }
}

/// Turns chat into engine calls and engine answers into replies.
#[derive(Clone)]
pub struct Robot {
    engine: Engine,
    grammar: std::sync::Arc<Grammar>,
    logs: Option<LogSource>,
    /// The provider only records what it would do: no env runs anywhere.
    dry_run: bool,
}

/// Where `logs <env>` reads an env's own output (the local provider keeps
/// it); without one, `logs` shows the output of the env's last operation.
pub type LogSource =
    std::sync::Arc<dyn Fn(&rushbox_command::AppName, &EnvName, usize) -> Vec<String> + Send + Sync>;

impl Robot {
    /// The grammar knows the configured apps, so `api/foo` means app `api` exactly when it is one.
    pub fn new(engine: Engine) -> Robot {
        let apps = engine
            .config()
            .apps
            .iter()
            .map(|a| a.name.clone())
            .collect::<Vec<_>>();
        let grammar = Grammar::new().with_apps(apps);
        Robot {
            engine,
            grammar: std::sync::Arc::new(grammar),
            logs: None,
            dry_run: false,
        }
    }

    /// Reads `logs <env>` from the envs' own output.
    pub fn with_logs(mut self, logs: LogSource) -> Robot {
        self.logs = Some(logs);
        self
    }

    /// For a provider that only records what it would do (`[provider]
    /// kind = "noop"`): finished work says nothing was started, and no
    /// address is offered, since nothing listens there.
    pub fn dry_run(mut self) -> Robot {
        self.dry_run = true;
        self
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Answers one message. Never panics on anything a person can type.
    pub fn handle(&self, incoming: &Incoming) -> Answer {
        let actor = match incoming.actor.id() {
            Ok(actor) => actor,
            Err(why) => {
                return Answer::reply(Reply::text(
                    Tone::Error,
                    format!("I can't tell who you are: {why}."),
                ));
            }
        };
        let mut answer = match self.grammar.parse(&incoming.text) {
            Ok(command) => self.run(&incoming.actor, &actor, command),
            Err(rejection) => Answer::reply(rejected(&rejection)),
        };
        humanize(&mut answer.reply, &incoming.actor.platform);
        answer
    }

    /// [`Robot::handle`] for a message the platform may deliver more than
    /// once, `delivery` being its id there (a Slack event id). Whatever it
    /// decides is recorded with the decision, so a redelivery, even after a
    /// restart, gets `None`: nothing runs twice and nothing is said twice.
    pub fn handle_delivery(&self, incoming: &Incoming, delivery: &str) -> Option<Answer> {
        if self.engine.delivered(delivery) {
            return None;
        }
        let once = Robot {
            engine: self.engine.for_delivery(delivery),
            ..self.clone()
        };
        Some(once.handle(incoming))
    }

    /// Runs the engine's timed rules (lease expiry, queue claim timeouts,
    /// idle suspends, TTL destroys) at the engine's current time. The runtime
    /// calls it every few seconds; what it decides comes back as an answer
    /// whose notices go to the people concerned.
    pub fn tick(&self) -> Answer {
        match self.engine.tick(self.engine.now()) {
            Ok(granted) => Answer::granted(Tone::Info, granted, self.dry_run),
            Err(error) => Answer::reply(refused(&error)),
        }
    }

    /// The groups `[roles]` names (`slack:S0LEADS` for `group:slack:S0LEADS`),
    /// for an adapter to report the members of those on its platform.
    pub fn group_names(&self) -> Vec<String> {
        self.engine.group_names()
    }

    /// Replaces who is in `group`, as the platform says; roles follow at the
    /// next command. A member whose id can't be an actor is left out.
    pub fn set_group_members(&self, group: &str, members: &[Actor]) {
        let ids = members.iter().filter_map(|m| m.id().ok());
        self.engine.set_group_members(group, ids);
    }

    /// What start-up has to tell people, decided before any adapter was
    /// listening: whose operation a crash or restart cut short (with the lock
    /// they still hold and the command that tries again, as buttons), whose
    /// lease ran out meanwhile. The engine has already marked them interrupted.
    pub fn interrupted(&self) -> Vec<Notice> {
        self.engine
            .restart_notices()
            .iter()
            .map(|n| {
                let mut told = notice(n.clone());
                // Names are quoted too (`staging`); only commands become buttons.
                let commands = quoted_commands(told.reply.summary())
                    .into_iter()
                    .filter(|c| self.grammar.parse(c).is_ok());
                for command in commands {
                    told.reply = told.reply.button(Button::new(&command.clone(), command));
                }
                told
            })
            .collect()
    }

    /// Messages the engine decides outside any one call (a lock handed to the
    /// next in line when an operation ends, a lease run out). Each adapter
    /// keeps one feed and delivers what arrives.
    pub fn notices(&self) -> NoticeFeed {
        NoticeFeed {
            receiver: self.engine.notices(),
        }
    }

    fn run(&self, speaker: &Actor, actor: &ActorId, command: Command) -> Answer {
        let engine = &self.engine;
        // hubot-deploy's `deploy!` and `to env/hosts` are understood but mean
        // nothing more here: say so rather than pretend.
        let caveat = match &command {
            Command::Deploy { hosts: Some(hosts), .. } => Some(format!(
                "rushbox deploys whole envs; the host list `{hosts}` was ignored."
            )),
            Command::Deploy { force: true, .. } | Command::Promote { force: true, .. } => Some(
                "`!` overrides nothing here: locks and roles still apply (a lead can `steal the staging lock`)."
                    .to_owned(),
            ),
            _ => None,
        };
        let result = match command {
            Command::Deploy {
                app,
                git_ref,
                target,
                ..
            } => engine.deploy(actor, app, git_ref, target),
            Command::Promote { from, to, .. } => engine.promote(actor, from.app, from.env, to),
            Command::Lock {
                env,
                reason,
                duration,
                force,
            } => engine.lock(actor, env.app, env.env, reason, duration, force),
            Command::Unlock { env, force: _ } => engine.unlock(actor, env.app, env.env),
            Command::Extend { env, duration } => engine.extend(actor, env.app, env.env, duration),
            Command::QueueJoin { env, git_ref } => {
                engine.queue_join(actor, env.app, env.env, git_ref)
            }
            Command::QueueLeave { env } => engine.queue_leave(actor, env.app, env.env),
            Command::Destroy { env } => engine.destroy(actor, env.app, env.env),
            Command::Suspend { env } => engine.suspend(actor, env.app, env.env),
            Command::Wake { env } => engine.wake(actor, env.app, env.env),
            Command::Cancel { env } => engine.cancel(actor, env.app, env.env),
            Command::Rollback { env, release } => engine.rollback(actor, env.app, env.env, release),
            Command::Reset { env, source } => engine.reset(actor, env.app, env.env, source),
            Command::Transfer { env, user } => match peer_id(speaker, &user) {
                Ok(to) => engine.transfer(actor, env.app, env.env, to),
                Err(reply) => return Answer::reply(reply),
            },
            read_only => return Answer::reply(self.answer_question(actor, read_only)),
        };
        let mut answer = match result {
            Ok(granted) => Answer::granted(Tone::Success, granted, self.dry_run),
            Err(error) => Answer::reply(refused(&error)),
        };
        if let Some(caveat) = caveat {
            answer.reply.blocks.push(Block::Text { text: caveat });
        }
        answer
    }

    /// The commands that change nothing.
    fn answer_question(&self, actor: &ActorId, command: Command) -> Reply {
        let engine = &self.engine;
        let now = engine.now();
        match command {
            Command::ListEnvs { app, stage } => {
                let mut views = engine.list_envs(app.as_ref(), stage);
                if self.dry_run {
                    views.iter_mut().for_each(|v| v.address = None);
                }
                env_table(&views)
            }
            Command::EnvStatus { env } => match engine.status(env.app.as_ref(), &env.env) {
                Ok(mut status) => {
                    if self.dry_run {
                        status.view.address = None;
                    }
                    status_card(&status)
                }
                Err(error) => refused(&error),
            },
            Command::LockStatus { env } => match engine.queue_status(env.app.as_ref(), &env.env) {
                Ok(queue) => lock_answer(&queue, actor),
                Err(error) => refused(&error),
            },
            Command::QueueStatus { env } => match engine.queue_status(env.app.as_ref(), &env.env) {
                Ok(queue) => queue_answer(&queue),
                Err(error) => refused(&error),
            },
            Command::History { app, env } => {
                match engine.history(app.as_ref(), env.as_ref(), HISTORY_LINES) {
                    Ok(mut entries) => {
                        entries.sort_by_key(|e| std::cmp::Reverse(e.seq));
                        history_table(&entries, env.as_ref(), now)
                    }
                    Err(error) => refused(&error),
                }
            }
            Command::Owner { env } => match engine.owner(env.app.as_ref(), &env.env) {
                Ok(Some(owner)) => Reply::text(
                    Tone::Info,
                    format!("`{}` belongs to {}.", env.env, who(&owner)),
                ),
                Ok(None) => Reply::text(
                    Tone::Info,
                    format!(
                        "`{}` is shared: it has no owner (only dev envs do).",
                        env.env
                    ),
                ),
                Err(error) => refused(&error),
            },
            Command::Logs { env } => match engine.status(env.app.as_ref(), &env.env) {
                Ok(status) => match &self.logs {
                    Some(read) => {
                        let lines = read(&status.view.app, &env.env, LOG_LINES);
                        if lines.is_empty() {
                            Reply::text(
                                Tone::Info,
                                format!("`{}` has printed nothing yet.", env.env),
                            )
                        } else {
                            Reply::text(Tone::Info, format!("The last lines of `{}`:", env.env))
                                .with(Block::List { items: lines })
                        }
                    }
                    None => logs_answer(&env.env, status.last_operation.as_ref()),
                },
                Err(error) => refused(&error),
            },
            Command::Help { topic } => Reply::text(Tone::Info, help(topic.as_deref())),
            other => Reply::text(
                Tone::Error,
                format!("`{other}` is not a question; this is a bug in rushbox."),
            ),
        }
    }
}

/// `@bob` or `<@U123>` as the engine's id of that person on the speaker's platform.
fn peer_id(speaker: &Actor, user: &UserRef) -> Result<ActorId, Reply> {
    let id = user.as_str().trim_start_matches("<@").trim_end_matches('>');
    speaker
        .peer(id)
        .id()
        .map_err(|why| Reply::text(Tone::Refused, format!("I can't give it to {user}: {why}.")))
}

/// How a person is shown: the id's last part, as a mention-like `@name`.
pub fn who(actor: &ActorId) -> String {
    let id = actor.as_str();
    format!("@{}", id.rsplit(':').next().unwrap_or(id))
}

fn notice(notice: rushbox_pipeline::Notice) -> Notice {
    let mut reply = Reply::text(Tone::Info, notice.text);
    if let Some((platform, _)) = notice.to.as_str().rsplit_once(':') {
        humanize(&mut reply, platform);
    }
    Notice {
        to: notice.to,
        reply,
    }
}

/// The engine names people by id (`shell:alice`, `slack:T1:U1`); people read
/// `@alice`. Rewrites ids of the given platform in a reply's texts.
fn humanize(reply: &mut Reply, platform: &str) {
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
fn quoted_commands(text: &str) -> Vec<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter(|c| !c.contains('<') && !c.is_empty())
        .map(str::to_owned)
        .collect()
}

fn refused(error: &EngineError) -> Reply {
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

fn rejected(rejection: &Rejection) -> Reply {
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

fn env_table(views: &[EnvView]) -> Reply {
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

fn status_card(status: &EnvStatus) -> Reply {
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

fn lock_answer(queue: &QueueView, asker: &ActorId) -> Reply {
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

fn queue_answer(queue: &QueueView) -> Reply {
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

fn history_table(entries: &[AuditEntry], env: Option<&EnvName>, now: u64) -> Reply {
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

fn logs_answer(env: &EnvName, op: Option<&Operation>) -> Reply {
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
