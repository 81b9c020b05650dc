//! The dev env lifecycle: destroy, suspend, wake (also on request), cancel,
//! give to someone else, activity, and time passing (TTLs, idle, warnings),
//! start-up reconciliation and how a finished operation changes the state.

use rushbox_command::{AppName, EnvName, Grammar, Span, Stage};

use crate::model::{Actor, Effect, Env, EnvKey, EnvState, OpKind, OpState, Operation, Queue};
use crate::provider::Action;

use super::fix::commands;
use super::{Blocker, Decider, Finish, Notice, Refusal, human_duration};

impl Decider<'_> {
    pub(super) fn env_op(
        &mut self,
        app: Option<&AppName>,
        env_name: &EnvName,
        kind: OpKind,
    ) -> Result<(), Refusal> {
        let app = self.app(app)?;
        let key = EnvKey::new(&app, env_name);
        let Some(env) = self.state.env(&key) else {
            return Err(Refusal::one(Blocker::NoSuchEnv {
                env: env_name.clone(),
            }));
        };
        self.need_developer(&format!("{kind} {env_name}"));
        if env.is_dev() {
            self.need_owner(env);
        } else {
            self.need_lead(&format!("{kind} {env_name}"));
        }
        self.need_lock(&key, false);
        self.need_idle(env);
        let wrong_state = match kind {
            OpKind::Suspend => env.state != EnvState::Running,
            OpKind::Wake => env.state != EnvState::Suspended,
            _ => false,
        };
        if wrong_state && env.operation.is_none() {
            self.block(Blocker::WrongState {
                env: env_name.clone(),
                state: env.state,
            });
        }
        self.checked()?;
        let action = match kind {
            OpKind::Suspend => Action::Suspend,
            OpKind::Wake => Action::Wake,
            _ => Action::Destroy,
        };
        let id = self.start_env_op(env, kind, action);
        self.plan.message = format!("{kind} {env_name}: operation {id}.");
        Ok(())
    }

    pub(super) fn start_env_op(&mut self, env: &Env, kind: OpKind, action: Action) -> u64 {
        let key = env.key();
        let request = self.request(action, &key);
        let id = self.new_operation(&key, kind, vec![request]);
        let mut env = env.clone();
        env.operation = Some(id);
        if kind == OpKind::Destroy {
            env.state = EnvState::Destroying;
        }
        if kind == OpKind::Wake {
            env.last_activity = self.now;
        }
        self.plan.effects.push(Effect::PutEnv(env));
        id
    }

    pub(super) fn cancel(
        &mut self,
        app: Option<&AppName>,
        env_name: &EnvName,
    ) -> Result<(), Refusal> {
        let app = self.app(app)?;
        let key = EnvKey::new(&app, env_name);
        let op = self
            .state
            .env(&key)
            .and_then(|e| e.operation)
            .and_then(|id| self.state.operations.get(&id));
        let Some(op) = op else {
            return Err(Refusal::one(Blocker::NoOperation {
                env: env_name.clone(),
            }));
        };
        let owner = self.state.env(&key).and_then(|e| e.owner.as_ref());
        if &op.requested_by != self.actor && owner != Some(self.actor) && !self.is_lead() {
            self.block(Blocker::NotOwner {
                env: env_name.clone(),
                owner: op.requested_by.clone(),
            });
        }
        self.checked()?;
        self.plan.cancel = Some(op.id);
        self.plan.message = format!(
            "Cancelling operation {} ({}) on {env_name}.",
            op.id, op.kind
        );
        Ok(())
    }

    pub(super) fn transfer(
        &mut self,
        app: Option<&AppName>,
        env_name: &EnvName,
        to: &Actor,
    ) -> Result<(), Refusal> {
        let app = self.app(app)?;
        let key = EnvKey::new(&app, env_name);
        let Some(env) = self.state.env(&key) else {
            return Err(Refusal::one(Blocker::NoSuchEnv {
                env: env_name.clone(),
            }));
        };
        if !env.is_dev() {
            self.block(Blocker::NotDevEnv {
                env: env_name.clone(),
            });
        }
        self.need_owner(env);
        let theirs = self
            .state
            .envs
            .values()
            .filter(|e| e.is_dev() && e.owner.as_ref() == Some(to))
            .count();
        let max = self.config.limits.dev_envs_per_person;
        if env.owner.as_ref() != Some(to) && theirs >= max {
            self.block(Blocker::RecipientAtLimit {
                to: to.clone(),
                max,
            });
        }
        self.checked()?;
        let mut env = env.clone();
        env.owner = Some(to.clone());
        self.plan.effects.push(Effect::PutEnv(env));
        self.plan.notices.push(Notice {
            to: to.clone(),
            text: format!("{} gave you {env_name}.", self.actor),
            commands: Vec::new(),
        });
        self.plan.message = format!("{env_name} is now {to}'s.");
        Ok(())
    }

    /// Activity is written at most once a minute per env: enough for idle
    /// times counted in hours, without a write per web request.
    /// The router's wake: only that the env exists, is suspended and idle.
    pub(super) fn wake_on_request(
        &mut self,
        app: Option<&AppName>,
        env_name: &EnvName,
    ) -> Result<(), Refusal> {
        let app = self.app(app)?;
        let key = EnvKey::new(&app, env_name);
        let Some(env) = self.state.env(&key) else {
            return Err(Refusal::one(Blocker::NoSuchEnv {
                env: env_name.clone(),
            }));
        };
        self.need_idle(env);
        if env.state != EnvState::Suspended && env.operation.is_none() {
            self.block(Blocker::WrongState {
                env: env_name.clone(),
                state: env.state,
            });
        }
        self.checked()?;
        let id = self.start_env_op(env, OpKind::Wake, Action::Wake);
        // Nobody asked in chat, so its owner would not know it is up again.
        if let Some(owner) = &env.owner {
            self.plan.notices.push(Notice {
                to: owner.clone(),
                text: format!(
                    "`{env_name}` is waking up: a request reached it while it was suspended (operation #{id})."
                ),
                commands: Vec::new(),
            });
        }
        self.plan.message = format!("wake {env_name} for a request: operation {id}.");
        Ok(())
    }

    pub(super) fn activity(
        &mut self,
        app: Option<&AppName>,
        env_name: &EnvName,
    ) -> Result<(), Refusal> {
        let app = self.app(app)?;
        let key = EnvKey::new(&app, env_name);
        let Some(env) = self.state.env(&key) else {
            return Err(Refusal::one(Blocker::NoSuchEnv {
                env: env_name.clone(),
            }));
        };
        if self.now >= env.last_activity + 60 {
            let mut env = env.clone();
            env.last_activity = self.now;
            self.plan.effects.push(Effect::PutEnv(env));
        }
        Ok(())
    }

    pub(super) fn tick(&mut self) {
        let mut said = self.expire_locks();
        let now = self.now;
        let idle = self.config.times.idle_suspend;
        for env in self.state.envs.values() {
            if !env.is_dev() || env.operation.is_some() {
                continue;
            }
            if env.expires_at.is_some_and(|t| t <= now) && env.state != EnvState::Destroying {
                let id = self.start_env_op(env, OpKind::Destroy, Action::Destroy);
                said.push(format!(
                    "{} reached its time to live (operation {id})",
                    env.key()
                ));
                if let Some(owner) = &env.owner {
                    self.plan.notices.push(Notice {
                        to: owner.clone(),
                        text: format!(
                            "{} reached its time to live and is being destroyed.",
                            env.name
                        ),
                        commands: Vec::new(),
                    });
                }
            } else if env.state == EnvState::Running && env.last_activity + idle <= now {
                let id = self.start_env_op(env, OpKind::Suspend, Action::Suspend);
                said.push(format!("{} was idle (operation {id})", env.key()));
                if let Some(owner) = &env.owner {
                    let wake = commands::wake(&env.name);
                    self.plan.notices.push(Notice {
                        to: owner.clone(),
                        text: format!(
                            "`{name}` was idle for {idle}, so it is being suspended (operation #{id}); the next visit or `{wake}` starts it again.",
                            name = env.name,
                            idle = human_duration(now.saturating_sub(env.last_activity)),
                        ),
                        commands: vec![wake],
                    });
                }
            }
        }
        self.warn_of_expiry(&mut said);
        self.plan.message = said.join("; ");
    }

    /// Tells owners, once, when their dev env's time to live is about to run out.
    pub(super) fn warn_of_expiry(&mut self, said: &mut Vec<String>) {
        let now = self.now;
        let warning = self.config.times.expiry_warning;
        let due: Vec<Env> = self
            .state
            .envs
            .values()
            .filter(|e| e.is_dev() && !e.expiry_warned && e.operation.is_none())
            .filter(|e| e.expires_at.is_some_and(|t| t > now && t <= now + warning))
            .filter(|e| {
                !self
                    .plan
                    .effects
                    .iter()
                    .any(|x| matches!(x, Effect::PutEnv(p) if p.key() == e.key()))
            })
            .cloned()
            .collect();
        for mut env in due {
            let left = env.expires_at.map_or(0, |t| t - now);
            if let Some(owner) = &env.owner {
                let extend = commands::extend(&env.name, Span::from_secs(86_400));
                self.plan.notices.push(Notice {
                    to: owner.clone(),
                    text: format!(
                        "{name} will be destroyed in {left} (its time to live runs out); `{extend}` keeps it.",
                        name = env.name,
                        left = human_duration(left)
                    ),
                    commands: vec![extend],
                });
            }
            said.push(format!(
                "{} expires in {}; owner warned",
                env.key(),
                human_duration(left)
            ));
            env.expiry_warned = true;
            self.plan.effects.push(Effect::PutEnv(env));
        }
    }

    pub(super) fn reconcile(&mut self) {
        let mut said = Vec::new();
        for op in self
            .state
            .operations
            .values()
            .filter(|op| op.state.is_running())
        {
            let mut op = op.clone();
            op.state = OpState::Interrupted;
            op.finished_at = Some(self.now);
            said.push(format!(
                "operation {} ({} {}) was interrupted",
                op.id,
                op.kind,
                op.key()
            ));
            if op.requested_by != Actor::rushbox() {
                let notice = self.interrupted_notice(&op);
                self.plan.notices.push(notice);
            }
            if let Some(env) = self.state.env(&op.key()) {
                let mut env = env.clone();
                env.operation = None;
                if matches!(env.state, EnvState::Creating | EnvState::Destroying) {
                    env.state = EnvState::Failed;
                }
                self.plan.effects.push(Effect::PutEnv(env));
            }
            self.plan.effects.push(Effect::PutOperation(op));
        }
        said.extend(self.expire_locks());
        self.plan.message = said.join("; ");
    }

    /// What the requester of an operation a restart cut short is told: that
    /// it stopped, the lock they still hold (its lease runs on, so nobody
    /// else gets staging meanwhile), and what to type to try again or let go.
    pub(super) fn interrupted_notice(&self, op: &Operation) -> Notice {
        let env = &op.env;
        let mut text = format!(
            "rushbox restarted while operation #{} ({} of `{env}`) was running; it was stopped.",
            op.id, op.kind
        );
        let mut suggested = Vec::new();
        // The operation kept what was asked as text; read back, it is offered
        // in its canonical words (`deploy branch foo to staging`).
        if let Some(asked) = &op.command {
            let apps = self.config.apps.iter().map(|a| a.name.clone());
            if let Ok(command) = Grammar::new().with_apps(apps).parse(asked) {
                suggested.push(command);
            }
        }
        let retry = op.command.as_ref().map(|c| format!("`{c}` tries again"));
        let held =
            self.state.locks.get(&op.key()).filter(|l| {
                l.holder == op.requested_by && !l.is_offer() && l.expires_at > self.now
            });
        match held {
            Some(lock) => {
                let unlock = commands::unlock(env);
                text.push_str(&format!(
                    " You still hold the {env} lock (\"{}\", lease ends in {}): {}`{unlock}` lets the next in line have it.",
                    lock.reason,
                    human_duration(lock.expires_at - self.now),
                    retry.map(|r| format!("{r}; ")).unwrap_or_default(),
                ));
                suggested.push(unlock);
            }
            None => {
                let status = commands::status(env);
                match retry {
                    Some(retry) => {
                        text.push_str(&format!(" {retry}; `{status}` shows where it stopped."))
                    }
                    None => text.push_str(&format!(" `{status}` shows where it stopped.")),
                }
                suggested.push(status);
            }
        }
        Notice {
            to: op.requested_by.clone(),
            text,
            commands: suggested,
        }
    }

    pub(super) fn finish(&mut self, id: u64, result: &Finish) {
        let Some(op) = self.state.operations.get(&id) else {
            return;
        };
        if !op.state.is_running() {
            return;
        }
        let mut op = op.clone();
        op.finished_at = Some(self.now);
        op.state = match result {
            Finish::Succeeded { .. } => OpState::Succeeded,
            Finish::Failed { error } => OpState::Failed {
                error: error.clone(),
            },
            Finish::Cancelled => OpState::Cancelled,
        };
        let key = op.key();
        self.plan.message = format!("operation {id} ({} {}) ended: {:?}", op.kind, key, op.state);
        let kind = op.kind;
        let deployed = op
            .requests
            .iter()
            .rev()
            .find(|r| r.action == Action::Deploy)
            .cloned();
        self.plan.effects.push(Effect::PutOperation(op));
        let Some(env) = self.state.env(&key) else {
            return;
        };
        let mut env = env.clone();
        env.operation = None;
        match result {
            Finish::Succeeded { address } => {
                if kind == OpKind::Destroy {
                    self.plan.effects.push(Effect::RemoveEnv(key.clone()));
                    self.plan.effects.push(Effect::RemoveLock(key.clone()));
                    self.plan
                        .effects
                        .push(Effect::PutQueue(key.clone(), Queue::default()));
                    return;
                }
                if address.is_some() {
                    env.address = address.clone();
                }
                env.last_activity = self.now;
                env.state = match kind {
                    OpKind::Suspend => EnvState::Suspended,
                    _ => EnvState::Running,
                };
                if let Some(req) = deployed {
                    if let Some(old) = env.release.take()
                        && Some(&old) != req.release.as_ref()
                    {
                        env.previous_releases.push(old);
                    }
                    env.release = req.release;
                    env.commit = req.commit;
                    env.branch = req.git_ref;
                }
                let to_prod = key.env.stage() == Some(Stage::Prod);
                self.plan.effects.push(Effect::PutEnv(env));
                if to_prod && kind == OpKind::Promote {
                    // Staging equals prod again: its lock is done, the next in line goes.
                    let staging = EnvKey::new(&key.app, &EnvName::staging());
                    if let Some(lock) = self.state.locks.get(&staging)
                        && !lock.is_offer()
                    {
                        self.plan.notices.push(Notice {
                            to: lock.holder.clone(),
                            text: "Your change is in prod, so the staging lock is released."
                                .to_owned(),
                            commands: Vec::new(),
                        });
                        self.pass_lock(&staging, None);
                    }
                }
            }
            Finish::Failed { .. } | Finish::Cancelled => {
                if matches!(env.state, EnvState::Creating | EnvState::Destroying) {
                    env.state = EnvState::Failed;
                }
                self.plan.effects.push(Effect::PutEnv(env));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use rushbox_command::{Command, Grammar};

    use super::super::{Call, decide};
    use crate::config::{Groups, PipelineConfig};
    use crate::model::{Actor, EnvKey, Lock, OpKind, OpState, Operation, State};

    const NOW: u64 = 1_800_000_000;

    fn alice() -> Actor {
        Actor::parse("shell:alice").unwrap()
    }

    fn parse(text: &str) -> Command {
        Grammar::new().parse(text).unwrap()
    }

    /// alice's staging deploy, cut short by a restart; the store kept what
    /// she typed as `asked`.
    fn cut_short(asked: Option<&str>, held: bool) -> State {
        let config = PipelineConfig::default();
        let app = config.apps[0].name.clone();
        let staging = rushbox_command::EnvName::staging();
        let mut state = State::default();
        state.operations.insert(
            3,
            Operation {
                id: 3,
                app: app.clone(),
                env: staging.clone(),
                kind: OpKind::Deploy,
                requested_by: alice(),
                started_at: NOW - 60,
                finished_at: None,
                state: OpState::Running,
                requests: Vec::new(),
                steps: Vec::new(),
                command: asked.map(str::to_owned),
            },
        );
        if held {
            let lock = Lock {
                holder: alice(),
                reason: "deploy foo".to_owned(),
                since: NOW - 60,
                expires_at: NOW + 3600,
                claim_by: None,
            };
            state.locks.insert(EnvKey::new(&app, &staging), lock);
        }
        state
    }

    /// The restart notice's commands, typed, in the order its text names
    /// them; what was asked is offered as the grammar reads it.
    #[test]
    fn a_restart_notice_carries_its_retry_and_next_step_as_commands() {
        let cases: Vec<(Option<&str>, bool, Vec<&str>, &str)> = vec![
            (
                Some("deploy foo to staging"),
                true,
                vec!["deploy branch foo to staging", "unlock staging"],
                "`deploy foo to staging` tries again; `unlock staging` lets the next in line have it.",
            ),
            (
                Some("deploy foo to staging"),
                false,
                vec!["deploy branch foo to staging", "status staging"],
                " `deploy foo to staging` tries again; `status staging` shows where it stopped.",
            ),
            (
                None,
                false,
                vec!["status staging"],
                "was stopped. `status staging` shows where it stopped.",
            ),
            // What the store kept no longer reads as a command: no retry button.
            (
                Some("deploy"),
                true,
                vec!["unlock staging"],
                "`deploy` tries again; `unlock staging`",
            ),
        ];
        for (asked, held, commands, says) in cases {
            let state = cut_short(asked, held);
            let plan = decide(
                &state,
                &PipelineConfig::default(),
                &Groups::default(),
                &Actor::rushbox(),
                &Call::Reconcile,
                NOW,
            )
            .unwrap();
            assert_eq!(plan.notices.len(), 1, "{plan:?}");
            let notice = &plan.notices[0];
            assert_eq!(notice.to, alice());
            assert!(notice.text.contains(says), "{says:?} in {:?}", notice.text);
            let expected: Vec<Command> = commands.iter().map(|c| parse(c)).collect();
            assert_eq!(notice.commands, expected, "{asked:?}, held {held}");
        }
    }
}
