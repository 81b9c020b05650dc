//! The live message of a running operation: [`ProgressFeed`] turns the
//! engine's progress events into versions of one reply, ending with what
//! was deployed where and the buttons for the obvious next step.

use std::time::Instant;

use rushbox_command::{EnvName, Stage};
use rushbox_pipeline::model::OpKind;
use rushbox_pipeline::policy::{human_duration, short};
use rushbox_pipeline::provider::Request;
use rushbox_pipeline::{OperationHandle, Progress};
use tokio::sync::mpsc::UnboundedReceiver;

use crate::model::{Block, Button, Reply, Tone};

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
    pub(super) fn new(handle: OperationHandle, dry_run: bool) -> ProgressFeed {
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
