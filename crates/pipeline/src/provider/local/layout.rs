//! Where the local provider keeps things under `root`: worktrees,
//! artifacts, data, logs, the env records (what each env runs and whether
//! it should run) and the process-group ledger. Paths and records only.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use rushbox_command::{AppName, EnvName};
use serde::{Deserialize, Serialize};

use super::LocalProvider;

/// What the provider remembers of one env across restarts of rushbox.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct EnvRecord {
    /// The commit deployed last, and the artifact it runs.
    pub(super) commit: Option<String>,
    pub(super) artifact: Option<String>,
    /// Whether the env should be running (false once suspended).
    pub(super) running: bool,
    /// Where its config and data came from (staging, for a dev env).
    pub(super) source_env: Option<EnvName>,
}

/// Under `root`: `worktrees/<app>/<env>/`, `artifacts/<key>/`,
/// `data/<app>/<env>/`, `logs/<app>/<env>/current.log`, `envs/<app>/<env>.json`
/// (the [`EnvRecord`]) and `groups/` (the ledger of the process groups
/// running, which [`LocalProvider::stop_leftovers`] stops after a crash).
impl LocalProvider {
    fn dir(&self, kind: &str, app: &AppName, env: &EnvName) -> PathBuf {
        self.config
            .root
            .join(kind)
            .join(app.as_str())
            .join(env.as_str())
    }

    pub(super) fn worktree_dir(&self, app: &AppName, env: &EnvName) -> PathBuf {
        self.dir("worktrees", app, env)
    }

    pub(super) fn data_dir(&self, app: &AppName, env: &EnvName) -> PathBuf {
        self.dir("data", app, env)
    }

    pub(super) fn logs_dir(&self, app: &AppName, env: &EnvName) -> PathBuf {
        self.dir("logs", app, env)
    }

    pub(super) fn record_path(&self, app: &AppName, env: &EnvName) -> PathBuf {
        self.config
            .root
            .join("envs")
            .join(app.as_str())
            .join(format!("{}.json", env.as_str()))
    }

    pub(super) fn artifacts_dir(&self) -> PathBuf {
        self.config.root.join("artifacts")
    }

    pub(super) fn read_record(
        &self,
        app: &AppName,
        env: &EnvName,
    ) -> Result<Option<EnvRecord>, String> {
        let path = self.record_path(app, env);
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| format!("`{}` is damaged: {e}", path.display())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("can't read `{}`: {e}", path.display())),
        }
    }

    /// Writes the record through a temporary file, so a crash leaves the old or the new one.
    pub(super) fn write_record(
        &self,
        app: &AppName,
        env: &EnvName,
        record: &EnvRecord,
    ) -> Result<(), String> {
        let path = self.record_path(app, env);
        let write = || -> io::Result<()> {
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent)?;
            }
            let tmp = path.with_extension("json.tmp");
            let mut file = fs::File::create(&tmp)?;
            file.write_all(&serde_json::to_vec_pretty(record).map_err(io::Error::other)?)?;
            file.sync_all()?;
            fs::rename(&tmp, &path)
        };
        write().map_err(|e| format!("can't write `{}`: {e}", path.display()))
    }

    /// The ledger of the process groups running (builds, clone-data
    /// commands and apps), for [`LocalProvider::stop_leftovers`].
    pub(super) fn groups_dir(root: &Path) -> PathBuf {
        root.join("groups")
    }
}
