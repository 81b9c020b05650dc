//! What the local provider does to envs: create, clone-data, deploy (and
//! the build behind it), suspend, wake, destroy; and, for the whole
//! machine, restore at start-up, shutdown and stopping a crash's leftovers.

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};
use std::thread;
use std::time::Duration;

use rushbox_command::{AppName, EnvName};

use super::config::{Argv, LocalApp};
use super::layout::EnvRecord;
use super::log::Log;
use super::{EnvSlot, LocalProvider, Running, failed, lock, workspace};
use crate::process::{self, Ended, Limits, Spec, Tail};
use crate::provider::{CancelToken, Outcome, ProviderError, Request};

/// Output lines quoted when a build or clone-data command fails.
const OUTPUT_LINES_IN_ERRORS: usize = 8;

impl LocalProvider {
    /// Stops what a rushbox that died (SIGKILL, power) left running under
    /// this root, builds and clone-data commands as well as apps (they would
    /// hold ports and write data), notes each in its env's log, and removes
    /// the builds it cut short. Call it only once the state store's lock is
    /// held, so the processes are never a live rushbox's. Returns how many
    /// process groups were stopped.
    pub fn stop_leftovers(&self) -> usize {
        let grace = Duration::from_secs(self.config.stop_grace_secs);
        let reaped = self.ledger.reap(grace);
        for group in &reaped {
            // Labels are `<app>/<env> <what>`, as `spec` writes them.
            let (env, what) = group.label.split_once(' ').unwrap_or((&group.label, ""));
            let parsed = env.split_once('/').and_then(|(app, env)| {
                Some((AppName::parse(app).ok()?, EnvName::parse(env).ok()?))
            });
            if let Some((app, env)) = parsed {
                Log::new(self.logs_dir(&app, &env)).note(&format!(
                    "stopped process group {} ({what}), left running by an earlier rushbox",
                    group.pgid
                ));
            }
        }
        // Artifacts are renamed into place whole; these were being built.
        for entry in fs::read_dir(self.artifacts_dir())
            .into_iter()
            .flatten()
            .flatten()
        {
            if entry.file_name().to_string_lossy().starts_with(".build-") {
                let _ = workspace::remove_dir(&entry.path());
            }
        }
        reaped.len()
    }

    /// At start-up, with the engine's list: starts the envs that should run
    /// (in parallel, each waited for until healthy) and keeps the others
    /// stopped. Returns how each start went.
    pub fn restore(
        &self,
        envs: &[(AppName, EnvName, bool)],
    ) -> Vec<(AppName, EnvName, Result<SocketAddr, String>)> {
        thread::scope(|scope| {
            let starts: Vec<_> = envs
                .iter()
                .filter(|(_, _, run)| *run)
                .map(|(app, env, _)| {
                    let start = move || self.wake_blocking(app, env);
                    let spawned = thread::Builder::new()
                        .name("local-restore".to_owned())
                        .spawn_scoped(scope, start);
                    // Without a thread, start it here and now.
                    (app, env, spawned.map_err(|_| start()))
                })
                .collect();
            for (app, env, _) in envs.iter().filter(|(_, _, run)| !*run) {
                let _ = self.suspend(app, env);
            }
            starts
                .into_iter()
                .map(|(app, env, started)| {
                    let result = match started {
                        Ok(handle) => handle
                            .join()
                            .unwrap_or_else(|_| Err("the start panicked".to_owned())),
                        Err(result) => result,
                    };
                    (app.clone(), env.clone(), result)
                })
                .collect()
        })
    }

    /// Stops every env's process (their records keep saying whether they
    /// should run, for `restore`); later starts are refused.
    pub fn shutdown(&self) {
        self.closed.store(true, Ordering::SeqCst);
        let slots: Vec<Arc<EnvSlot>> = lock(&self.envs).values().cloned().collect();
        let running: Vec<Running> = slots
            .iter()
            .filter_map(|slot| lock(&slot.state).running.take())
            .collect();
        // In parallel, so the grace periods don't add up.
        thread::scope(|scope| {
            for r in running {
                let stop = thread::Builder::new()
                    .name("local-shutdown".to_owned())
                    .spawn_scoped(scope, move || r.supervisor.stop());
                // The failed spawn dropped `r`, which stops it (Supervisor's Drop).
                drop(stop);
            }
        });
    }

    /// Makes the env's directories and record; on failure removes what it made.
    pub(super) fn create(
        &self,
        request: &Request,
        progress: &mut dyn FnMut(&str),
    ) -> Result<Outcome, ProviderError> {
        let (app, env) = (&request.app, &request.env);
        self.config.app(app)?;
        self.repo(app)?;
        if let Some(record) = self.read_record(app, env).map_err(failed)? {
            progress(&format!("{env} already exists here; keeping it"));
            if record.source_env.is_none() && request.source_env.is_some() {
                let record = EnvRecord {
                    source_env: request.source_env.clone(),
                    ..record
                };
                self.write_record(app, env, &record).map_err(failed)?;
            }
            return Ok(Outcome::default());
        }
        let made = || -> Result<(), String> {
            for dir in [self.data_dir(app, env), self.logs_dir(app, env)] {
                fs::create_dir_all(&dir)
                    .map_err(|e| format!("can't make `{}`: {e}", dir.display()))?;
            }
            self.write_record(
                app,
                env,
                &EnvRecord {
                    source_env: request.source_env.clone(),
                    ..EnvRecord::default()
                },
            )
        };
        if let Err(e) = made() {
            self.remove_env_files(app, env);
            return Err(failed(format!("creating {env} failed: {e}")));
        }
        progress(&format!("made {env}'s data and log directories"));
        Ok(Outcome::default())
    }

    /// Copies the source env's data (staging's) into the env, or runs the
    /// app's `clone_data` command.
    pub(super) fn clone_data(
        &self,
        request: &Request,
        progress: &mut dyn FnMut(&str),
        cancel: &CancelToken,
    ) -> Result<Outcome, ProviderError> {
        let (app, env) = (&request.app, &request.env);
        let settings = self.config.app(app)?;
        let source = request.source_env.clone().unwrap_or_else(EnvName::staging);
        if &source == env {
            return Err(failed(format!("{env} can't clone its data from itself")));
        }
        let mut record = self.read_record(app, env).map_err(failed)?.ok_or_else(|| {
            failed(format!(
                "{env} does not exist here yet; create it before cloning data"
            ))
        })?;
        let from = self.data_dir(app, &source);
        let to = self.data_dir(app, env);
        if let Some(command) = &settings.clone_data {
            progress(&format!("cloning {source}'s data with `{command}`"));
            fs::create_dir_all(&to)
                .map_err(|e| failed(format!("can't make `{}`: {e}", to.display())))?;
            let spec = self
                .spec(command, &to, app, env, "clone-data")
                .env("RUSHBOX_APP", app.as_str())
                .env("RUSHBOX_ENV", env.as_str())
                .env("RUSHBOX_SOURCE_ENV", source.as_str())
                .env("RUSHBOX_SOURCE_DATA_DIR", &from)
                .env("RUSHBOX_DATA_DIR", &to);
            self.run_to_end(&spec, "clone-data", app, env, progress, cancel)?;
        } else if from.is_dir() {
            progress(&format!("copying {source}'s data directory"));
            // Into a fresh directory first, so a failed copy leaves the old data whole.
            let tmp = to.with_file_name(format!(".clone-{}", env.as_str()));
            let copied = workspace::remove_dir(&tmp)
                .and_then(|()| workspace::copy_tree(&from, &tmp, &[]))
                .and_then(|()| workspace::remove_dir(&to))
                .and_then(|()| fs::rename(&tmp, &to));
            if let Err(e) = copied {
                let _ = workspace::remove_dir(&tmp);
                return Err(failed(format!(
                    "copying {source}'s data into {env} failed: {e}"
                )));
            }
        } else {
            progress(&format!(
                "{source} has no data directory here yet; {env} starts with empty data"
            ));
        }
        record.source_env = Some(source);
        self.write_record(app, env, &record).map_err(failed)?;
        Ok(Outcome::default())
    }

    /// Checks the commit out, builds it unless its artifact exists, starts
    /// the new process and waits until it is healthy, then stops the old one.
    /// The caller holds the env's `op` lock.
    pub(super) fn deploy(
        &self,
        request: &Request,
        progress: &mut dyn FnMut(&str),
        cancel: &CancelToken,
    ) -> Result<Outcome, ProviderError> {
        let (app, env) = (&request.app, &request.env);
        let settings = self.config.app(app)?;
        let repo = self.repo(app)?;
        let asked = request
            .commit
            .as_deref()
            .ok_or_else(|| failed("deploy needs a commit, and this request has none"))?;
        let commit = workspace::resolve_commit(repo, asked)
            .map_err(|e| failed(format!("can't look up commit `{asked}`: {e}")))?
            .ok_or_else(|| {
                failed(format!(
                    "commit `{asked}` names nothing in {app}'s repository; push it first, \
                     or deploy a branch that is there"
                ))
            })?;
        let short = commit.get(..8).unwrap_or(&commit);
        let record = match self.read_record(app, env).map_err(failed)? {
            Some(record) => record,
            None => {
                // Staging and prod may be deployed to without a Create first.
                self.create(request, progress)?;
                EnvRecord {
                    source_env: request.source_env.clone(),
                    ..EnvRecord::default()
                }
            }
        };
        let key = workspace::artifact_key(&commit, settings.build.as_ref());
        let artifact = self.artifacts_dir().join(&key);
        let worktree = self.worktree_dir(app, env);
        let mut added_worktree = false;
        let result = (|| {
            if cancel.is_cancelled() {
                return Err(ProviderError::Cancelled);
            }
            progress(&format!("checking out {short} in {env}'s worktree"));
            added_worktree = workspace::checkout(repo, &worktree, &commit)
                .map_err(|e| failed(format!("checking out {short} failed: {e}")))?;
            if artifact.is_dir() {
                progress(&format!(
                    "commit {short} is already built (artifact {}); not building again",
                    key.get(..12).unwrap_or(&key)
                ));
            } else {
                self.build(
                    request, settings, &commit, &key, &worktree, progress, cancel,
                )?;
            }
            if cancel.is_cancelled() {
                return Err(ProviderError::Cancelled);
            }
            let slot = self.slot(app, env);
            let new_record = EnvRecord {
                commit: Some(commit.clone()),
                artifact: Some(key.clone()),
                running: true,
                ..record.clone()
            };
            let running = self.start(&slot, app, env, &new_record, progress, cancel)?;
            let addr = running.addr;
            let old = lock(&slot.state).running.replace(running);
            if let Some(old) = old {
                progress("stopping the previous version");
                old.supervisor.stop();
            }
            self.write_record(app, env, &new_record).map_err(failed)?;
            progress(&format!("{env} runs {short} at {addr}"));
            Ok(())
        })();
        match result {
            Ok(()) => Ok(Outcome {
                address: Some(self.config.address(env)),
            }),
            Err(e) => {
                if added_worktree && record.artifact.is_none() {
                    workspace::remove_worktree(repo, &worktree);
                }
                Err(e)
            }
        }
    }

    /// Builds `commit` into `artifacts/<key>` through a temporary directory
    /// renamed into place, so an artifact that exists is complete.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn build(
        &self,
        request: &Request,
        settings: &LocalApp,
        commit: &str,
        key: &str,
        worktree: &Path,
        progress: &mut dyn FnMut(&str),
        cancel: &CancelToken,
    ) -> Result<(), ProviderError> {
        let _one_at_a_time = lock(&self.build_lock);
        let artifact = self.artifacts_dir().join(key);
        if artifact.is_dir() {
            progress("built meanwhile by another deploy; using it");
            return Ok(());
        }
        let tmp = self
            .artifacts_dir()
            .join(format!(".build-{key}-{}", std::process::id()));
        let prepared = workspace::remove_dir(&tmp).and_then(|()| fs::create_dir_all(&tmp));
        if let Err(e) = prepared {
            return Err(failed(format!("can't make `{}`: {e}", tmp.display())));
        }
        let built = match &settings.build {
            Some(command) => {
                progress(&format!("building with `{command}`"));
                // No config variables: one artifact serves every env.
                let (app, env) = (&request.app, &request.env);
                let spec = self
                    .spec(command, worktree, app, env, "build")
                    .env("RUSHBOX_APP", app.as_str())
                    .env("RUSHBOX_COMMIT", commit)
                    .env("RUSHBOX_ARTIFACT_DIR", &tmp);
                self.run_to_end(&spec, "the build", app, env, progress, cancel)
            }
            None => {
                progress("no build command: the artifact is a copy of the worktree");
                workspace::copy_tree(worktree, &tmp, &[".git"])
                    .map_err(|e| failed(format!("copying the worktree failed: {e}")))
            }
        };
        let placed = built.and_then(|()| {
            fs::rename(&tmp, &artifact)
                .map_err(|e| failed(format!("can't move the build into place: {e}")))
        });
        if placed.is_err() {
            let _ = workspace::remove_dir(&tmp);
        } else {
            self.builds.fetch_add(1, Ordering::SeqCst);
        }
        placed
    }

    /// Stops the env's process and records that it should stay stopped.
    pub(super) fn suspend(&self, app: &AppName, env: &EnvName) -> Result<(), ProviderError> {
        let slot = self.slot(app, env);
        let _op = lock(&slot.op);
        let running = lock(&slot.state).running.take();
        if let Some(running) = running {
            running.supervisor.stop();
        }
        if let Some(record) = self.read_record(app, env).map_err(failed)? {
            let record = EnvRecord {
                running: false,
                ..record
            };
            self.write_record(app, env, &record).map_err(failed)?;
        }
        Ok(())
    }

    /// The coalescing start behind `wake_blocking` and the `Wake` action.
    pub(super) fn wake(
        &self,
        app: &AppName,
        env: &EnvName,
        progress: &mut dyn FnMut(&str),
        cancel: &CancelToken,
    ) -> Result<SocketAddr, ProviderError> {
        let slot = self.slot(app, env);
        {
            let mut state = lock(&slot.state);
            loop {
                if let Some(running) = &state.running {
                    return Ok(running.addr);
                }
                if !state.starting {
                    break;
                }
                let attempt = state.wake_attempts;
                while state.starting && state.wake_attempts == attempt {
                    state = slot
                        .changed
                        .wait(state)
                        .unwrap_or_else(PoisonError::into_inner);
                }
                if let Some(running) = &state.running {
                    return Ok(running.addr);
                }
                if let Some(failure) = &state.last_wake_failure {
                    return Err(failed(failure.clone()));
                }
            }
            state.starting = true;
            state.wake_attempts += 1;
        }
        let result = (|| {
            let _op = lock(&slot.op);
            // A deploy may have started it while we waited for `op`.
            if let Some(running) = &lock(&slot.state).running {
                return Ok(running.addr);
            }
            let record = self
                .read_record(app, env)
                .map_err(failed)?
                .ok_or_else(|| failed(format!("there is no env {env} of {app} here")))?;
            progress(&format!("waking {env}"));
            let running = self.start(&slot, app, env, &record, progress, cancel)?;
            let addr = running.addr;
            lock(&slot.state).running = Some(running);
            if !record.running {
                let record = EnvRecord {
                    running: true,
                    ..record
                };
                self.write_record(app, env, &record).map_err(failed)?;
            }
            Ok(addr)
        })();
        let mut state = lock(&slot.state);
        state.starting = false;
        state.last_wake_failure = result.as_ref().err().map(ToString::to_string);
        slot.changed.notify_all();
        result
    }

    /// Stops the env and removes its worktree, data, logs and record. The
    /// artifact stays: other envs may run it.
    pub(super) fn destroy(
        &self,
        app: &AppName,
        env: &EnvName,
        progress: &mut dyn FnMut(&str),
    ) -> Result<(), ProviderError> {
        let slot = self.slot(app, env);
        let _op = lock(&slot.op);
        let running = lock(&slot.state).running.take();
        if let Some(running) = running {
            progress(&format!("stopping {env}"));
            running.supervisor.stop();
        }
        if let Some(log) = slot.log.0.get() {
            log.close();
        }
        self.remove_env_files(app, env);
        let left: Vec<PathBuf> = [
            self.worktree_dir(app, env),
            self.data_dir(app, env),
            self.record_path(app, env),
        ]
        .into_iter()
        .filter(|p| p.exists())
        .collect();
        if !left.is_empty() {
            let left: Vec<String> = left.iter().map(|p| p.display().to_string()).collect();
            return Err(failed(format!(
                "{env} is stopped, but these could not be removed: {}",
                left.join(", ")
            )));
        }
        progress(&format!("removed {env}'s worktree, data and logs"));
        Ok(())
    }

    pub(super) fn remove_env_files(&self, app: &AppName, env: &EnvName) {
        let worktree = self.worktree_dir(app, env);
        match self.repos.get(app) {
            Some(repo) => workspace::remove_worktree(repo, &worktree),
            None => {
                let _ = workspace::remove_dir(&worktree);
            }
        }
        let _ = workspace::remove_dir(&self.data_dir(app, env));
        let _ = workspace::remove_dir(&self.logs_dir(app, env));
        let _ = fs::remove_file(self.record_path(app, env));
    }

    pub(super) fn repo(&self, app: &AppName) -> Result<&Path, ProviderError> {
        let repo = self
            .repos
            .get(app)
            .ok_or_else(|| failed(format!("app `{app}` has no repository configured")))?;
        if !workspace::is_repository(repo) {
            return Err(failed(format!(
                "`{}` (app `{app}`'s repository) is not a git repository",
                repo.display()
            )));
        }
        Ok(repo)
    }

    /// A command of the app's config, run in `dir` and recorded in the
    /// ledger as `<app>/<env> <what>` before it runs. Values reach it as
    /// environment variables only.
    pub(super) fn spec(
        &self,
        argv: &Argv,
        dir: &Path,
        app: &AppName,
        env: &EnvName,
        what: &str,
    ) -> Spec {
        Spec::new(argv.program())
            .args(argv.args())
            .cwd(dir)
            .recorded_in(&self.ledger, format!("{app}/{env} {what}"))
    }

    /// Runs a build or clone-data command to its end, each output line to
    /// `progress` and the env's log; stopped on cancel or after the
    /// command timeout. `what` names it in errors.
    pub(super) fn run_to_end(
        &self,
        spec: &Spec,
        what: &str,
        app: &AppName,
        env: &EnvName,
        progress: &mut dyn FnMut(&str),
        cancel: &CancelToken,
    ) -> Result<(), ProviderError> {
        let log = self.log(&self.slot(app, env), app, env);
        let timeout = Duration::from_secs(self.config.command_timeout_secs);
        let grace = Duration::from_secs(self.config.stop_grace_secs);
        let mut tail = Tail::new(OUTPUT_LINES_IN_ERRORS, 0);
        let ended = process::run(
            spec,
            process::Output::MergedLines,
            Limits::new(timeout, grace).cancel(cancel),
            &mut |line| {
                progress(&line.text);
                log.append_line(&line.text);
                tail.push(&line);
            },
        )
        .map_err(|e| failed(format!("{what} could not start `{}`: {e}", spec.program())))?;
        match ended {
            Ended::Cancelled => Err(ProviderError::Cancelled),
            Ended::TimedOut => Err(failed(format!(
                "{what} took longer than {}s and was stopped{}",
                timeout.as_secs(),
                tail.quote()
            ))),
            Ended::Exited(exit) if exit.success() => Ok(()),
            Ended::Exited(exit) => Err(failed(format!(
                "{what} failed: `{}` {exit}{}",
                spec.program(),
                tail.quote()
            ))),
        }
    }
}
