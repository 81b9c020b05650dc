//! The intents: what a person can ask rushbox to do, one per `Command` variant.

use std::fmt;

/// What a line of text asks for. `Unknown` and `Invalid` are the two ways a
/// line fails to be a command; they exist for reports, not as `Command`s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Intent {
    Deploy,
    Promote,
    ListEnvs,
    EnvStatus,
    Lock,
    Unlock,
    LockStatus,
    QueueJoin,
    QueueLeave,
    QueueStatus,
    Destroy,
    Suspend,
    Wake,
    Extend,
    Cancel,
    Rollback,
    Reset,
    History,
    Owner,
    Transfer,
    Logs,
    Help,
    Unknown,
    Invalid,
}

impl Intent {
    /// Every intent a command can have, in the order help lists them.
    pub const COMMANDS: [Intent; 22] = [
        Intent::Deploy,
        Intent::Promote,
        Intent::ListEnvs,
        Intent::EnvStatus,
        Intent::Lock,
        Intent::Unlock,
        Intent::LockStatus,
        Intent::QueueJoin,
        Intent::QueueLeave,
        Intent::QueueStatus,
        Intent::Destroy,
        Intent::Suspend,
        Intent::Wake,
        Intent::Extend,
        Intent::Cancel,
        Intent::Rollback,
        Intent::Reset,
        Intent::History,
        Intent::Owner,
        Intent::Transfer,
        Intent::Logs,
        Intent::Help,
    ];

    /// The stable name used by `rushbox parse --json` and in logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Intent::Deploy => "deploy",
            Intent::Promote => "promote",
            Intent::ListEnvs => "list_envs",
            Intent::EnvStatus => "env_status",
            Intent::Lock => "lock",
            Intent::Unlock => "unlock",
            Intent::LockStatus => "lock_status",
            Intent::QueueJoin => "queue_join",
            Intent::QueueLeave => "queue_leave",
            Intent::QueueStatus => "queue_status",
            Intent::Destroy => "destroy",
            Intent::Suspend => "suspend",
            Intent::Wake => "wake",
            Intent::Extend => "extend",
            Intent::Cancel => "cancel",
            Intent::Rollback => "rollback",
            Intent::Reset => "reset",
            Intent::History => "history",
            Intent::Owner => "owner",
            Intent::Transfer => "transfer",
            Intent::Logs => "logs",
            Intent::Help => "help",
            Intent::Unknown => "unknown",
            Intent::Invalid => "invalid",
        }
    }
}

impl fmt::Display for Intent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
