//! The release-moving rules: deploy, promote, rollback and reset, and the
//! release bookkeeping they share (which release runs where, new dev envs
//! within their limits). Locks are checked through `lock_queue`.

use rushbox_command::{AppName, EnvName, GitRef, ReleaseId, Stage, Target};

use crate::model::{Effect, Env, EnvKey, EnvState, OpKind, OpState, Release};
use crate::provider::{Action, Request};

use super::lock_queue::LockNeed;
use super::{Blocker, Decider, LimitScope, Refusal, short};

impl Decider<'_> {
    /// Putting `release` on the env at `key`, from `git_ref`: the env's own
    /// branch, which need not be the one that built the release's commit.
    pub(super) fn deploy_request(
        &self,
        key: &EnvKey,
        release: &Release,
        git_ref: Option<GitRef>,
    ) -> Request {
        Request {
            git_ref,
            commit: Some(release.commit.clone()),
            release: Some(release.id.clone()),
            ..self.request(Action::Deploy, key)
        }
    }

    /// Starts putting `release` on the env at `key` from `git_ref` (creating
    /// the env when new, waking it when suspended) and marks the env busy.
    pub(super) fn put_release(
        &mut self,
        key: &EnvKey,
        release: &Release,
        git_ref: Option<GitRef>,
        kind: OpKind,
    ) -> u64 {
        // An env whose creation failed or was interrupted is made again.
        let existing = self
            .state
            .env(key)
            .filter(|e| !(e.state == EnvState::Failed && e.release.is_none()))
            .cloned();
        let mut requests = Vec::new();
        let mut env = match existing {
            Some(env) => {
                if env.state == EnvState::Suspended {
                    requests.push(self.request(Action::Wake, key));
                }
                env
            }
            None => {
                let mut create = self.request(Action::Create, key);
                if key.env.stage() == Some(Stage::Dev) {
                    let staging = Some(EnvName::staging());
                    create.source_env = staging.clone();
                    requests.push(create);
                    requests.push(Request {
                        source_env: staging,
                        ..self.request(Action::CloneData, key)
                    });
                } else {
                    requests.push(create);
                }
                let owner = self
                    .state
                    .env(key)
                    .and_then(|e| e.owner.clone())
                    .unwrap_or_else(|| self.actor.clone());
                self.new_env(key, Some(owner))
            }
        };
        requests.push(self.deploy_request(key, release, git_ref));
        let kind = if env.state == EnvState::Creating && kind == OpKind::Deploy {
            OpKind::Create
        } else {
            kind
        };
        let id = self.new_operation(key, kind, requests);
        env.operation = Some(id);
        env.last_activity = self.now;
        self.plan.effects.push(Effect::PutEnv(env));
        id
    }

    /// The release an env runs, to be moved elsewhere; blocks when there is none.
    pub(super) fn release_running_on(&mut self, key: &EnvKey) -> Option<Release> {
        let env = key.env.clone();
        match self.state.env(key).map(|e| e.release.as_ref()) {
            None => {
                self.block(Blocker::NoSuchEnv { env });
                None
            }
            Some(None) => {
                self.block(Blocker::NoRelease { env });
                None
            }
            Some(Some(id)) => self
                .state
                .releases
                .get(&(key.app.clone(), id.clone()))
                .cloned(),
        }
    }

    /// Takes the lock when the checks said so, then starts putting the release on the env.
    pub(super) fn ship(
        &mut self,
        key: &EnvKey,
        release: &Release,
        git_ref: Option<GitRef>,
        kind: OpKind,
        take_lock_for: Option<String>,
    ) -> u64 {
        if let Some(reason) = take_lock_for {
            self.take_lock(key, &reason, self.config.times.lock_lease);
        }
        self.put_release(key, release, git_ref, kind)
    }

    /// The branch `release` ran from on the env at `key`: the env's own if it
    /// runs it now, else that of its last deployment there, else the one
    /// that built it. Two branches at one commit share a release, not a branch.
    pub(super) fn branch_of(&self, key: &EnvKey, release: &Release) -> Option<GitRef> {
        if let Some(env) = self.state.env(key)
            && env.release.as_ref() == Some(&release.id)
            && env.branch.is_some()
        {
            return env.branch.clone();
        }
        self.state
            .operations
            .values()
            .rev()
            .filter(|op| op.key() == *key && op.state == OpState::Succeeded)
            .flat_map(|op| op.requests.iter().rev())
            .find(|r| r.action == Action::Deploy && r.release.as_ref() == Some(&release.id))
            .and_then(|r| r.git_ref.clone())
            .or_else(|| release.git_ref.clone())
    }

    pub(super) fn release_for(&mut self, app: &AppName, git_ref: &GitRef, commit: &str) -> Release {
        if let Some(r) = self.state.release_of_commit(app, commit) {
            return r.clone();
        }
        let release = Release {
            id: self.state.next_release_id(app),
            app: app.clone(),
            commit: commit.to_owned(),
            git_ref: Some(git_ref.clone()),
            built_at: self.now,
            built_by: self.actor.clone(),
        };
        self.plan.effects.push(Effect::PutRelease(release.clone()));
        release
    }

    /// Checks for changing a non-dev env: prod needs a lead, staging needs
    /// the lock (taken when free), any env someone else locked is refused.
    /// Returns whether the plan must take the lock.
    pub(super) fn need_pipeline_env(&mut self, key: &EnvKey, what: &str) -> bool {
        match key.env.stage() {
            Some(Stage::Prod) => {
                self.need_lead(&format!("{what} prod"));
                self.need_lock(key, false);
                false
            }
            Some(Stage::Staging) => matches!(self.need_lock(key, true), Some(LockNeed::Take)),
            _ => {
                self.need_lock(key, false);
                false
            }
        }
    }

    pub(super) fn deploy(
        &mut self,
        app: Option<&AppName>,
        git_ref: &GitRef,
        commit: &Result<String, String>,
        target: &Target,
    ) -> Result<(), Refusal> {
        let app = self.app(app)?;
        let env_name = match target {
            Target::Dev => EnvName::for_branch(git_ref),
            Target::Env(env) => env.clone(),
        };
        let key = EnvKey::new(&app, &env_name);
        self.need_developer(&format!("deploy to {env_name}"));
        if let Err(why) = commit {
            self.block(Blocker::UnknownRef {
                git_ref: git_ref.clone(),
                why: why.clone(),
            });
        }
        let existing = self.state.env(&key);
        let mut take = false;
        if env_name.stage() == Some(Stage::Dev) {
            match existing {
                Some(env) => self.need_owner(env),
                None => self.need_dev_limits(),
            }
            self.need_lock(&key, false);
        } else {
            take = self.need_pipeline_env(&key, "deploy to");
        }
        if let Some(env) = existing {
            self.need_idle(env);
        }
        self.checked()?;
        let commit = match commit {
            Ok(commit) => commit,
            Err(why) => {
                return Err(Refusal::one(Blocker::UnknownRef {
                    git_ref: git_ref.clone(),
                    why: why.clone(),
                }));
            }
        };
        let release = self.release_for(&app, git_ref, commit);
        let reason = take.then(|| format!("deploy {git_ref}"));
        let id = self.ship(
            &key,
            &release,
            Some(git_ref.clone()),
            OpKind::Deploy,
            reason,
        );
        self.plan.message = format!(
            "Deploying {git_ref} ({}, release {}) to {env_name}: operation {id}.",
            short(commit),
            release.id
        );
        Ok(())
    }

    pub(super) fn need_dev_limits(&mut self) {
        let dev_envs: Vec<&Env> = self.state.envs.values().filter(|e| e.is_dev()).collect();
        let mine: Vec<EnvName> = dev_envs
            .iter()
            .filter(|e| e.owner.as_ref() == Some(self.actor))
            .map(|e| e.name.clone())
            .collect();
        let limits = &self.config.limits;
        if mine.len() >= limits.dev_envs_per_person {
            self.block(Blocker::LimitReached {
                scope: LimitScope::PerPerson,
                max: limits.dev_envs_per_person,
                envs: mine.clone(),
            });
        }
        if dev_envs.len() >= limits.dev_envs_total {
            self.block(Blocker::LimitReached {
                scope: LimitScope::Total,
                max: limits.dev_envs_total,
                envs: mine,
            });
        }
    }

    pub(super) fn promote(
        &mut self,
        app: Option<&AppName>,
        from: &EnvName,
        to: &EnvName,
    ) -> Result<(), Refusal> {
        let app = self.app(app)?;
        let from_key = EnvKey::new(&app, from);
        let to_key = EnvKey::new(&app, to);
        self.need_developer(&format!("promote to {to}"));
        let release = self.release_running_on(&from_key);
        let in_order = matches!(
            (from.stage(), to.stage()),
            (Some(Stage::Dev), Some(Stage::Staging)) | (Some(Stage::Staging), Some(Stage::Prod))
        );
        if !in_order {
            self.block(Blocker::OutOfOrder {
                from: from.clone(),
                to: to.clone(),
            });
        }
        let take = self.need_pipeline_env(&to_key, "promote to");
        if let Some(env) = self.state.env(&to_key) {
            self.need_idle(env);
        }
        self.checked()?;
        let Some(release) = release else {
            return Err(Refusal::one(Blocker::NoRelease { env: from.clone() }));
        };
        let reason = take.then(|| format!("promote {} from {from}", release.id));
        let branch = self.branch_of(&from_key, &release);
        let id = self.ship(&to_key, &release, branch, OpKind::Promote, reason);
        self.plan.message = format!(
            "Promoting release {} ({}) from {from} to {to}, no rebuild: operation {id}.",
            release.id,
            short(&release.commit)
        );
        Ok(())
    }

    pub(super) fn find_release(&self, app: &AppName, wanted: &ReleaseId) -> Option<Release> {
        let w = wanted.as_str().to_ascii_lowercase();
        let numbered = w
            .strip_prefix('v')
            .or_else(|| w.strip_prefix('r'))
            .unwrap_or(&w);
        let of_app = || self.state.releases.values().filter(|r| &r.app == app);
        if let Some(r) = of_app().find(|r| r.id == w || r.id.strip_prefix('r') == Some(numbered)) {
            return Some(r.clone());
        }
        let by_commit: Vec<&Release> = of_app()
            .filter(|r| w.len() >= 4 && r.commit.starts_with(&w))
            .collect();
        match by_commit.as_slice() {
            [one] => Some((*one).clone()),
            _ => None,
        }
    }

    pub(super) fn rollback(
        &mut self,
        app: Option<&AppName>,
        env_name: &EnvName,
        wanted: Option<&ReleaseId>,
    ) -> Result<(), Refusal> {
        let app = self.app(app)?;
        let key = EnvKey::new(&app, env_name);
        let Some(env) = self.state.env(&key) else {
            return Err(Refusal::one(Blocker::NoSuchEnv {
                env: env_name.clone(),
            }));
        };
        self.need_developer(&format!("roll back {env_name}"));
        let take = if env.is_dev() {
            self.need_owner(env);
            false
        } else {
            self.need_pipeline_env(&key, "roll back")
        };
        self.need_idle(env);
        let release = match wanted {
            Some(w) => {
                let found = self.find_release(&app, w);
                if found.is_none() {
                    self.block(Blocker::NoSuchRelease {
                        env: env_name.clone(),
                        release: w.to_string(),
                    });
                }
                found
            }
            None => {
                let found = env
                    .previous_releases
                    .iter()
                    .rev()
                    .find(|r| Some(*r) != env.release.as_ref())
                    .and_then(|id| self.state.releases.get(&(app.clone(), id.clone())))
                    .cloned();
                if found.is_none() {
                    self.block(Blocker::NothingToRollBack {
                        env: env_name.clone(),
                    });
                }
                found
            }
        };
        self.checked()?;
        let Some(release) = release else {
            return Err(Refusal::one(Blocker::NothingToRollBack {
                env: env_name.clone(),
            }));
        };
        let reason = take.then(|| format!("roll back to {}", release.id));
        let branch = self.branch_of(&key, &release);
        let id = self.ship(&key, &release, branch, OpKind::Rollback, reason);
        self.plan.message = format!(
            "Rolling {env_name} back to release {} ({}): operation {id}.",
            release.id,
            short(&release.commit)
        );
        Ok(())
    }

    pub(super) fn reset(
        &mut self,
        app: Option<&AppName>,
        env_name: &EnvName,
        source: &EnvName,
    ) -> Result<(), Refusal> {
        let app = self.app(app)?;
        let key = EnvKey::new(&app, env_name);
        let source_key = EnvKey::new(&app, source);
        self.need_developer(&format!("reset {env_name}"));
        let release = self.release_running_on(&source_key);
        if env_name.stage() == Some(Stage::Prod) {
            self.need_lead("reset prod");
        }
        // A lead may reset staging under someone's lock: that is what the reset is for.
        if !self.is_lead() {
            self.need_lock(&key, false);
        }
        if let Some(env) = self.state.env(&key) {
            self.need_idle(env);
            if env.is_dev() {
                self.need_owner(env);
            }
        }
        self.checked()?;
        let Some(release) = release else {
            return Err(Refusal::one(Blocker::NoRelease {
                env: source.clone(),
            }));
        };
        let branch = self.branch_of(&source_key, &release);
        let id = self.put_release(&key, &release, branch, OpKind::Reset);
        self.plan.message = format!(
            "Resetting {env_name} to {source}'s release {}: operation {id}.",
            release.id
        );
        Ok(())
    }
}
