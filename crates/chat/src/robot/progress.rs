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
use tokio::sync::mpsc::error::TryRecvError;

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

    /// The next version if its event has already arrived, without
    /// waiting; `None` when none has (or after the final version).
    pub fn next_ready(&mut self) -> Option<Reply> {
        if self.ended.is_some() {
            return None;
        }
        match self.events.try_recv() {
            Ok(event) => Some(self.apply(Some(event))),
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Disconnected) => Some(self.apply(None)),
        }
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use rushbox_command::{AppName, GitRef};
    use rushbox_pipeline::provider::Action;
    use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};

    use super::*;

    fn env(name: &str) -> EnvName {
        EnvName::parse(name).expect("a valid env name")
    }

    fn foo_at_r3(env: &EnvName) -> Request {
        Request {
            action: Action::Deploy,
            app: AppName::parse("web").expect("a valid app"),
            env: env.clone(),
            git_ref: Some(GitRef::parse("foo").expect("a valid ref")),
            commit: Some("f00f00f00f00f00f00f00f00f00f00f00f00f00f".to_owned()),
            release: Some("r3".to_owned()),
            source_env: None,
        }
    }

    /// A feed of operation #7 on `name`, started 2m 5s ago (so elapsed
    /// times read `2m` however slow the test machine is).
    fn feed(
        name: &str,
        kind: OpKind,
        deploys: bool,
        dry_run: bool,
    ) -> (ProgressFeed, UnboundedSender<Progress>) {
        let (sender, events) = unbounded_channel();
        let env = env(name);
        let handle = OperationHandle {
            id: 7,
            app: AppName::parse("web").expect("a valid app"),
            deploys: deploys.then(|| foo_at_r3(&env)),
            env,
            kind,
            events,
        };
        let mut feed = ProgressFeed::new(handle, dry_run);
        feed.started = Instant::now() - Duration::from_secs(125);
        (feed, sender)
    }

    fn next(feed: &mut ProgressFeed, sender: &UnboundedSender<Progress>, event: Progress) -> Reply {
        sender.send(event).expect("the feed is listening");
        feed.next_blocking().expect("a version of the message")
    }

    fn buttons(reply: &Reply) -> Vec<(&str, &str, bool)> {
        reply
            .buttons
            .iter()
            .map(|b| (b.label.as_str(), b.command.as_str(), b.danger))
            .collect()
    }

    #[test]
    fn deployed_names_branch_commit_and_release() {
        let dev = env("dev-foo");
        let mut request = foo_at_r3(&dev);
        assert_eq!(deployed(&request), "branch foo (f00f00f00f, release r3)");
        request.release = None;
        request.commit = None;
        assert_eq!(deployed(&request), "branch foo");
        request.git_ref = None;
        request.release = Some("r2".to_owned());
        assert_eq!(deployed(&request), "release r2");
    }

    #[test]
    fn a_running_operation_shows_what_it_deploys_its_last_step_and_a_cancel_button() {
        let (mut feed, sender) = feed("dev-foo", OpKind::Deploy, true, false);
        let started = next(&mut feed, &sender, Progress::Started);
        let working =
            "Working on `dev-foo` (operation #7, 2m so far): branch foo (f00f00f00f, release r3)…";
        let cancel = Reply::text(Tone::Progress, working)
            .button(Button::new("Cancel", "cancel dev-foo").danger());
        assert_eq!(started, cancel);
        next(&mut feed, &sender, Progress::Step("building".to_owned()));
        let step = next(
            &mut feed,
            &sender,
            Progress::Step("starting web".to_owned()),
        );
        let expected = Reply::text(Tone::Progress, working)
            .with(Block::Text {
                text: "starting web".to_owned(),
            })
            .button(Button::new("Cancel", "cancel dev-foo").danger());
        assert_eq!(step, expected);
        assert!(!feed.is_done());
    }

    #[test]
    fn a_ready_dev_env_links_its_address_and_offers_staging_and_destroy() {
        let (mut feed, sender) = feed("dev-foo", OpKind::Deploy, true, false);
        let ready = next(
            &mut feed,
            &sender,
            Progress::Finished {
                address: Some("http://dev-foo.localhost:8080".to_owned()),
            },
        );
        let expected = Reply::text(
            Tone::Success,
            "`dev-foo` is ready: branch foo (f00f00f00f, release r3), deployed in 2m.",
        )
        .with(Block::Link {
            label: "Open dev-foo".to_owned(),
            url: "http://dev-foo.localhost:8080".to_owned(),
        })
        .button(Button::new(
            "Deploy to staging",
            "deploy dev-foo to staging",
        ))
        .button(Button::new("Destroy", "destroy dev-foo").danger());
        assert_eq!(ready, expected);
        assert!(feed.is_done());
        assert_eq!(
            feed.next_blocking(),
            None,
            "nothing after the final version"
        );
    }

    #[test]
    fn the_last_message_names_what_each_kind_of_operation_did() {
        let cases = [
            (
                "staging",
                OpKind::Promote,
                true,
                "`staging` is ready: branch foo (f00f00f00f, release r3), promoted in 2m.",
                vec![("Promote to prod", "promote staging to prod", true)],
            ),
            (
                "prod",
                OpKind::Rollback,
                true,
                "`prod` is ready: branch foo (f00f00f00f, release r3), rolled back in 2m.",
                vec![],
            ),
            (
                "dev-foo",
                OpKind::Wake,
                false,
                "`dev-foo` is ready (2m).",
                vec![
                    ("Deploy to staging", "deploy dev-foo to staging", false),
                    ("Destroy", "destroy dev-foo", true),
                ],
            ),
            (
                "dev-foo",
                OpKind::Suspend,
                false,
                "`dev-foo` is suspended (2m); the next visit or `wake dev-foo` starts it again.",
                vec![],
            ),
            (
                "dev-foo",
                OpKind::Destroy,
                false,
                "`dev-foo` is gone (2m).",
                vec![],
            ),
        ];
        for (name, kind, deploys, text, expected_buttons) in cases {
            let (mut feed, sender) = feed(name, kind, deploys, false);
            let reply = next(&mut feed, &sender, Progress::Finished { address: None });
            assert_eq!(reply.tone, Tone::Success, "{kind}");
            assert_eq!(reply.summary(), text, "{kind}");
            assert_eq!(reply.blocks.len(), 1, "{kind}: no address, no link");
            assert_eq!(buttons(&reply), expected_buttons, "{kind}");
        }
    }

    #[test]
    fn a_dry_run_says_nothing_was_started_and_offers_no_address() {
        let (mut feed, sender) = feed("dev-foo", OpKind::Create, true, true);
        let reply = next(
            &mut feed,
            &sender,
            Progress::Finished {
                address: Some("http://dev-foo.localhost:8080".to_owned()),
            },
        );
        let expected = Reply::text(
            Tone::Success,
            "`dev-foo` is recorded (noop provider: nothing was started; set `[provider] kind = \"local\"` to run it): branch foo (f00f00f00f, release r3).",
        )
        .button(Button::new("Deploy to staging", "deploy dev-foo to staging"))
        .button(Button::new("Destroy", "destroy dev-foo").danger());
        assert_eq!(reply, expected);
    }

    #[test]
    fn a_failure_says_the_error_and_offers_status_and_logs() {
        let (mut feed, sender) = feed("staging", OpKind::Deploy, true, false);
        let reply = next(
            &mut feed,
            &sender,
            Progress::Failed {
                error: "exit status 2".to_owned(),
            },
        );
        let expected = Reply::text(
            Tone::Error,
            "Operation #7 on `staging` failed after 2m: exit status 2",
        )
        .button(Button::new("Status", "status staging"))
        .button(Button::new("Logs", "logs staging"));
        assert_eq!(reply, expected);
        assert!(feed.is_done());
    }

    #[test]
    fn an_operation_whose_events_stop_says_where_to_look() {
        let (mut feed, sender) = feed("staging", OpKind::Deploy, true, false);
        drop(sender);
        let reply = feed.next_blocking().expect("a final version");
        assert_eq!(
            reply,
            Reply::text(
                Tone::Error,
                "Lost track of operation #7 on `staging`; `status staging` shows how it ended."
            )
        );
        assert!(feed.is_done());
    }
}
