//! The lock and queue rules: lock, unlock, extend, steal, join and leave the
//! queue, and how a freed lock is offered to the next in line and claimed.
//! Also the lock checks every release-moving call makes.

use rushbox_command::{AppName, EnvName, GitRef, Span};

use crate::model::{Effect, EnvKey, Lock, Queue, QueueEntry};

use super::fix::commands;
use super::{Blocker, Decider, Notice, Refusal, human_duration};

/// What holding the lock takes, for a call that needs it.
pub(super) enum LockNeed {
    /// The caller holds it already.
    Held,
    /// Free, or offered to the caller: taking it is part of the plan.
    Take,
}

impl Decider<'_> {
    /// Someone else's lock blocks; with `take`, a free lock is taken.
    pub(super) fn need_lock(&mut self, key: &EnvKey, take: bool) -> Option<LockNeed> {
        match self.state.locks.get(key) {
            None => take.then_some(LockNeed::Take),
            Some(lock) if &lock.holder == self.actor => Some(if lock.is_offer() {
                LockNeed::Take
            } else {
                LockNeed::Held
            }),
            Some(lock) => {
                self.block_on_lock(key, lock);
                None
            }
        }
    }

    pub(super) fn block_on_lock(&mut self, key: &EnvKey, lock: &Lock) {
        let env = key.env.clone();
        match lock.claim_by {
            Some(claim_by) => self.block(Blocker::LockOffered {
                env: env.clone(),
                to: lock.holder.clone(),
                claim_within: claim_by.saturating_sub(self.now),
            }),
            None => self.block(Blocker::LockedBy {
                env: env.clone(),
                holder: lock.holder.clone(),
                reason: lock.reason.clone(),
                since: lock.since,
                held_for: self.now.saturating_sub(lock.since),
            }),
        }
        let queue = self.state.queue(key);
        if let Some(position) = queue.position(self.actor) {
            self.block(Blocker::QueuePosition {
                env,
                position,
                length: queue.waiting.len(),
            });
        }
    }

    /// The caller takes (or claims) the lock and leaves the queue if in it.
    pub(super) fn take_lock(&mut self, key: &EnvKey, reason: &str, lease: u64) {
        self.plan.effects.push(Effect::PutLock(
            key.clone(),
            Lock {
                holder: self.actor.clone(),
                reason: reason.to_owned(),
                since: self.now,
                expires_at: self.now + lease,
                claim_by: None,
            },
        ));
        let mut queue = self.state.queue(key);
        if queue.position(self.actor).is_some() {
            queue.waiting.retain(|e| &e.actor != self.actor);
            self.plan.effects.push(Effect::PutQueue(key.clone(), queue));
        }
    }

    /// Frees the lock: it passes to the head of the queue, who is told, or is removed.
    pub(super) fn pass_lock(&mut self, key: &EnvKey, queue: Option<Queue>) {
        let mut queue = queue.unwrap_or_else(|| self.state.queue(key));
        if queue.waiting.is_empty() {
            self.plan.effects.push(Effect::RemoveLock(key.clone()));
            return;
        }
        let head = queue.waiting.remove(0);
        let claim_by = self.now + self.config.times.queue_claim;
        let reason = match &head.git_ref {
            Some(r) => format!("deploy {r} (from the queue)"),
            None => "from the queue".to_owned(),
        };
        self.plan.effects.push(Effect::PutLock(
            key.clone(),
            Lock {
                holder: head.actor.clone(),
                reason,
                since: self.now,
                expires_at: self.now + self.config.times.lock_lease,
                claim_by: Some(claim_by),
            },
        ));
        self.plan.effects.push(Effect::PutQueue(key.clone(), queue));
        let env = &key.env;
        self.plan.notices.push(Notice {
            to: head.actor,
            text: format!(
                "It's your turn: the {env} lock is yours. Claim it within {} with `lock {env} for <reason>` or by deploying to {env}, or it passes to the next in line.",
                human_duration(self.config.times.queue_claim)
            ),
            commands: Vec::new(),
        });
    }

    pub(super) fn lock(
        &mut self,
        app: Option<&AppName>,
        env: &EnvName,
        reason: Option<&str>,
        duration: Option<Span>,
        force: bool,
    ) -> Result<(), Refusal> {
        let app = self.app(app)?;
        let key = EnvKey::new(&app, env);
        self.need_developer(&format!("lock {env}"));
        let reason = reason.map(str::trim).filter(|r| !r.is_empty());
        if reason.is_none() {
            self.block(Blocker::ReasonRequired { env: env.clone() });
        }
        let lease = duration.map_or(self.config.times.lock_lease, Span::secs);
        let previous = self.state.locks.get(&key).cloned();
        match &previous {
            Some(lock) if &lock.holder != self.actor => {
                if force {
                    self.need_lead(&format!("steal the {env} lock"));
                    if !self.is_lead() {
                        self.block_on_lock(&key, lock);
                    }
                } else {
                    self.block_on_lock(&key, lock);
                }
            }
            _ => {}
        }
        self.checked()?;
        let reason = reason.unwrap_or_default();
        self.take_lock(&key, reason, lease);
        self.plan.message = match previous {
            Some(lock) if &lock.holder != self.actor => {
                self.plan.notices.push(Notice {
                    to: lock.holder.clone(),
                    text: format!(
                        "{} took the {env} lock from you (you had it for \"{}\"); their reason: {reason}.",
                        self.actor, lock.reason
                    ),
                    commands: Vec::new(),
                });
                format!(
                    "You took the {env} lock from {} for \"{reason}\"; they have been told. It expires in {}.",
                    lock.holder,
                    human_duration(lease)
                )
            }
            _ => format!(
                "{env} is locked for you: \"{reason}\". It expires in {} (`extend {env}` for more).",
                human_duration(lease)
            ),
        };
        Ok(())
    }

    pub(super) fn unlock(&mut self, app: Option<&AppName>, env: &EnvName) -> Result<(), Refusal> {
        let app = self.app(app)?;
        let key = EnvKey::new(&app, env);
        let Some(lock) = self.state.locks.get(&key) else {
            return Err(Refusal::one(Blocker::NotLocked { env: env.clone() }));
        };
        if &lock.holder != self.actor && !self.is_lead() {
            self.block(Blocker::NotHolder {
                env: env.clone(),
                holder: lock.holder.clone(),
            });
        }
        self.checked()?;
        if &lock.holder != self.actor {
            self.plan.notices.push(Notice {
                to: lock.holder.clone(),
                text: format!("{} released your {env} lock.", self.actor),
                commands: Vec::new(),
            });
        }
        self.pass_lock(&key, None);
        self.plan.message = format!("{env} is unlocked.");
        Ok(())
    }

    pub(super) fn extend(
        &mut self,
        app: Option<&AppName>,
        env_name: &EnvName,
        duration: Option<Span>,
    ) -> Result<(), Refusal> {
        let app = self.app(app)?;
        let key = EnvKey::new(&app, env_name);
        if let Some(lock) = self.state.locks.get(&key)
            && &lock.holder == self.actor
            && !lock.is_offer()
        {
            let add = duration.map_or(self.config.times.lock_lease, Span::secs);
            let mut lock = lock.clone();
            lock.expires_at = lock.expires_at.max(self.now) + add;
            let left = lock.expires_at - self.now;
            self.plan.effects.push(Effect::PutLock(key, lock));
            self.plan.message = format!(
                "Your {env_name} lock now expires in {}.",
                human_duration(left)
            );
            return Ok(());
        }
        let Some(env) = self.state.env(&key) else {
            if let Some(lock) = self.state.locks.get(&key) {
                return Err(Refusal::one(Blocker::NotHolder {
                    env: env_name.clone(),
                    holder: lock.holder.clone(),
                }));
            }
            return Err(Refusal::one(Blocker::NoSuchEnv {
                env: env_name.clone(),
            }));
        };
        let Some(expires_at) = env.expires_at else {
            return Err(Refusal::one(match self.state.locks.get(&key) {
                Some(lock) => Blocker::NotHolder {
                    env: env_name.clone(),
                    holder: lock.holder.clone(),
                },
                None => Blocker::NotLocked {
                    env: env_name.clone(),
                },
            }));
        };
        self.need_owner(env);
        self.checked()?;
        let add = duration.map_or(self.config.times.dev_ttl, Span::secs);
        let mut env = env.clone();
        env.expires_at = Some(expires_at.max(self.now) + add);
        env.expiry_warned = false;
        env.last_activity = self.now;
        let left = expires_at.max(self.now) + add - self.now;
        self.plan.effects.push(Effect::PutEnv(env));
        self.plan.message = format!("{env_name} now lives {} more.", human_duration(left));
        Ok(())
    }

    pub(super) fn queue_join(
        &mut self,
        app: Option<&AppName>,
        env: &EnvName,
        git_ref: &Option<GitRef>,
    ) -> Result<(), Refusal> {
        let app = self.app(app)?;
        let key = EnvKey::new(&app, env);
        self.need_developer(&format!("queue for {env}"));
        let lock = self.state.locks.get(&key);
        if lock.is_some_and(|l| &l.holder == self.actor) {
            self.block(Blocker::AlreadyHolder { env: env.clone() });
        }
        let mut queue = self.state.queue(&key);
        if let Some(position) = queue.position(self.actor) {
            self.block(Blocker::AlreadyQueued {
                env: env.clone(),
                position,
            });
        }
        self.checked()?;
        queue.waiting.push(QueueEntry {
            actor: self.actor.clone(),
            git_ref: git_ref.clone(),
            joined_at: self.now,
        });
        match lock {
            None => {
                self.pass_lock(&key, Some(queue));
                self.plan.message = format!(
                    "{env} is free and nobody is waiting, so it is your turn now: claim it within {} with `lock {env} for <reason>` or by deploying to it.",
                    human_duration(self.config.times.queue_claim)
                );
            }
            Some(lock) => {
                let position = queue.waiting.len();
                self.plan.message = format!(
                    "You are #{position} in the {env} queue; {} holds it for \"{}\". You will be told when it is your turn.",
                    lock.holder, lock.reason
                );
                self.plan.effects.push(Effect::PutQueue(key, queue));
            }
        }
        Ok(())
    }

    pub(super) fn queue_leave(
        &mut self,
        app: Option<&AppName>,
        env: &EnvName,
    ) -> Result<(), Refusal> {
        let app = self.app(app)?;
        let key = EnvKey::new(&app, env);
        let mut queue = self.state.queue(&key);
        if queue.position(self.actor).is_some() {
            queue.waiting.retain(|e| &e.actor != self.actor);
            self.plan.effects.push(Effect::PutQueue(key, queue));
            self.plan.message = format!("You left the {env} queue.");
            return Ok(());
        }
        match self.state.locks.get(&key) {
            // Declining a lock passed from the queue passes it on.
            Some(lock) if &lock.holder == self.actor && lock.is_offer() => {
                self.pass_lock(&key, Some(queue));
                self.plan.message = format!("You gave up your turn; {env} passes on.");
                Ok(())
            }
            _ => Err(Refusal::one(Blocker::NotQueued { env: env.clone() })),
        }
    }

    /// Frees locks whose lease ran out and passes on turns nobody claimed.
    pub(super) fn expire_locks(&mut self) -> Vec<String> {
        let now = self.now;
        let mut said = Vec::new();
        for (key, lock) in &self.state.locks {
            let env = &key.env;
            if let Some(claim_by) = lock.claim_by {
                if claim_by <= now {
                    let queue = commands::queue_join(env);
                    self.plan.notices.push(Notice {
                        to: lock.holder.clone(),
                        text: format!(
                            "You did not claim the {env} lock in time, so it passed to the next in line. `{queue}` to wait again."
                        ),
                        commands: vec![queue],
                    });
                    said.push(format!("{}'s turn on {key} ran out", lock.holder));
                    self.pass_lock(key, None);
                }
            } else if lock.expires_at <= now {
                self.plan.notices.push(Notice {
                    to: lock.holder.clone(),
                    text: format!(
                        "Your {env} lock (\"{}\") expired. `lock {env} for <reason>` to take it again.",
                        lock.reason
                    ),
                    commands: Vec::new(),
                });
                said.push(format!("{}'s lock on {key} expired", lock.holder));
                self.pass_lock(key, None);
            }
        }
        said
    }
}

#[cfg(test)]
mod tests {
    use rushbox_command::{EnvName, Grammar};

    use super::super::{Call, decide};
    use crate::config::{Groups, PipelineConfig};
    use crate::model::{Actor, EnvKey, Lock, State};

    const NOW: u64 = 1_800_000_000;

    /// A lapsed turn offers `queue me for staging` as a command; a lapsed
    /// lock names only a template, so it carries none.
    #[test]
    fn a_lapsed_lock_or_turn_tells_its_holder_with_the_command_that_waits_again() {
        let config = PipelineConfig::default();
        let key = EnvKey::new(&config.apps[0].name, &EnvName::staging());
        let alice = Actor::parse("shell:alice").unwrap();
        let lapsed = |claim_by: Option<u64>| Lock {
            holder: alice.clone(),
            reason: "from the queue".to_owned(),
            since: NOW - 7200,
            expires_at: NOW - 1,
            claim_by,
        };
        let cases = [
            (
                lapsed(Some(NOW - 1)),
                "`queue me for staging` to wait again",
                vec!["queue me for staging"],
            ),
            (
                lapsed(None),
                "`lock staging for <reason>` to take it again",
                vec![],
            ),
        ];
        for (lock, says, commands) in cases {
            let mut state = State::default();
            state.locks.insert(key.clone(), lock);
            let rushbox = Actor::rushbox();
            let groups = Groups::default();
            let plan = decide(&state, &config, &groups, &rushbox, &Call::Tick, NOW).unwrap();
            assert_eq!(plan.notices.len(), 1, "{plan:?}");
            let notice = &plan.notices[0];
            assert!(notice.text.contains(says), "{says:?} in {:?}", notice.text);
            let expected: Vec<_> = commands
                .iter()
                .map(|c| Grammar::new().parse(c).unwrap())
                .collect();
            assert_eq!(notice.commands, expected);
        }
    }
}
