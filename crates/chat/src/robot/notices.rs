//! Messages for people other than the one who typed: a lock handed on, an
//! env given to them, a lease run out. The engine decides them; this turns
//! each into a [`Notice`] with a [`Reply`] that names people as `@name`.

use rushbox_pipeline::Actor as ActorId;
use tokio::sync::broadcast;

use super::answers::humanize;
use crate::model::{Reply, Tone};

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
    pub(super) fn new(receiver: broadcast::Receiver<rushbox_pipeline::Notice>) -> NoticeFeed {
        NoticeFeed { receiver }
    }

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

pub(super) fn notice(notice: rushbox_pipeline::Notice) -> Notice {
    let mut reply = Reply::text(Tone::Info, notice.text);
    if let Some((platform, _)) = notice.to.as_str().rsplit_once(':') {
        humanize(&mut reply, platform);
    }
    Notice {
        to: notice.to,
        reply,
    }
}
