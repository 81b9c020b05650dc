//! The Robot: one [`Incoming`] in, one [`Answer`] out. It parses the text,
//! calls the engine as the person who wrote it, and turns what the engine
//! says into [`Reply`]s. It knows no platform; adapters render its replies.
//!
//! This module holds the dispatch; [`answers`] renders engine views,
//! [`progress`] follows running work and [`notices`] carries messages for
//! other people.

mod answers;
mod notices;
mod progress;

use rushbox_command::{Command, EnvName, Grammar, UserRef, help};
use rushbox_pipeline::{Actor as ActorId, Engine};

use crate::model::{Actor, Block, Incoming, Reply, Tone};
pub use answers::who;
use answers::{
    LOG_LINES, command_button, env_table, history_table, humanize, lock_answer, logs_answer,
    queue_answer, refused, rejected, status_card,
};
use notices::notice;
pub use notices::{Notice, NoticeFeed};
pub use progress::ProgressFeed;

/// How many audit entries `history` shows.
const HISTORY_LINES: usize = 20;

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
                for command in &n.commands {
                    told.reply = told.reply.button(command_button(command));
                }
                told
            })
            .collect()
    }

    /// Messages the engine decides outside any one call (a lock handed to the
    /// next in line when an operation ends, a lease run out). Each adapter
    /// keeps one feed and delivers what arrives.
    pub fn notices(&self) -> NoticeFeed {
        NoticeFeed::new(self.engine.notices())
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
