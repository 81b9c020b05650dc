//! Staying connected to Discord, and stopping on time. Serenity alone is
//! no good at either while Discord is unreachable: its shard queuer retries
//! a failed connection every 5 s, saying so only through `tracing`, waits
//! forever on a gateway that accepts TCP and then says nothing, and
//! `ShardManager::shutdown_all` does nothing while no shard runs, so
//! `Client::start` never returns. So rushbox runs the loop itself:
//!
//! 1. ask the REST API where the gateway is, and open a WebSocket to it
//!    (serenity's own `Shard::new`), each within [`CONNECT_TIMEOUT`];
//! 2. start a serenity client on a runtime of its own and watch its shard:
//!    not connected for [`NOT_CONNECTED_GRACE`] means the session is lost;
//! 3. a lost session's runtime is shut down, which ends every task serenity
//!    spawned (its queuer included, so it never connects a second session);
//!    then [`keep_trying`] waits out the backoff (5 s, doubling up to 5 min,
//!    from 5 s again after a session), and the log says so (`tracing`, at
//!    WARN; being connected at INFO).
//!
//! Shutdown is bounded the same way: shards are asked to close for at most
//! [`SHUTDOWN_GRACE`], then the session's runtime goes.

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serenity::all::{
    ClientBuilder, ConnectionStage, EventHandler, GatewayError, GatewayIntents, Http, Shard,
    ShardId, ShardInfo, ShardManager,
};
use tokio::sync::{Mutex, oneshot};
use tokio::time::Instant;
use tracing::{info, warn};

use rushbox_chat::backoff::{Attempt, Shutdown, keep_trying, short, with_causes};

use crate::adapter::Error;
use rushbox_chat::activity::Activity;

/// How long the REST lookup of the gateway, and opening the gateway, may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the shard may be not connected (handshake at start, a resume
/// later) before rushbox gives the session up and starts again.
pub const NOT_CONNECTED_GRACE: Duration = Duration::from_secs(10);
/// How long shards get to close when rushbox stops.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);
/// How often the shard's state is looked at.
const WATCH_EVERY: Duration = Duration::from_millis(250);

/// Why there is no session with Discord right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Down {
    /// The REST API (which says where the gateway is) did not answer.
    Api { base: String, error: String },
    /// The gateway could not be opened.
    Gateway { url: String, error: String },
    /// The gateway opened but the shard was not connected in time.
    Handshake { url: String },
    /// A session that was connected lost its link and did not get it back.
    Lost { url: String, why: String },
}

impl fmt::Display for Down {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Down::Api { base, error } => write!(f, "can't reach Discord's API at {base}: {error}"),
            Down::Gateway { url, error } => write!(f, "can't reach the gateway at {url}: {error}"),
            Down::Handshake { url } => write!(
                f,
                "the gateway at {url} opened but did not let the bot in within {}",
                short(NOT_CONNECTED_GRACE)
            ),
            Down::Lost { url, why } => write!(f, "lost the gateway at {url}: {why}"),
        }
    }
}

fn no_answer() -> String {
    format!("no answer within {}", short(CONNECT_TIMEOUT))
}

/// Where the gateway is, and that it opens: the same calls serenity makes.
async fn probe(
    http: &Http,
    base: &str,
    token: &str,
    intents: GatewayIntents,
) -> Result<String, Down> {
    let url = match tokio::time::timeout(CONNECT_TIMEOUT, http.get_gateway()).await {
        Ok(Ok(gateway)) => gateway.url,
        Ok(Err(error)) => {
            return Err(Down::Api {
                base: base.to_owned(),
                error: with_causes(&error),
            });
        }
        Err(_) => {
            return Err(Down::Api {
                base: base.to_owned(),
                error: no_answer(),
            });
        }
    };
    let shard = Shard::new(
        Arc::new(Mutex::new(url.clone())),
        token,
        ShardInfo {
            id: ShardId(0),
            total: 1,
        },
        intents,
        None,
    );
    match tokio::time::timeout(CONNECT_TIMEOUT, shard).await {
        // Dropped unused: the client opens its own.
        Ok(Ok(_shard)) => Ok(url),
        Ok(Err(error)) => Err(Down::Gateway {
            url,
            error: with_causes(&error),
        }),
        Err(_) => Err(Down::Gateway {
            url,
            error: no_answer(),
        }),
    }
}

/// Errors after which trying again cannot help: Discord refused the token or the intents.
fn is_fatal(error: &serenity::Error) -> bool {
    matches!(
        error,
        serenity::Error::Gateway(
            GatewayError::InvalidAuthentication
                | GatewayError::InvalidGatewayIntents
                | GatewayError::DisallowedGatewayIntents
        )
    )
}

/// How a watched session ended.
enum Watched {
    Shutdown,
    Fatal(serenity::Error),
    /// `had_session`: the shard was connected before it went down.
    Down {
        down: Down,
        had_session: bool,
    },
}

/// One serenity client on a runtime (and thread) of its own, so that giving
/// it up ends everything serenity spawned for it.
struct Session {
    gateway: String,
    manager: Arc<OnceLock<Arc<ShardManager>>>,
    /// What `Client::start` returned (or why the client could not be built).
    ended: oneshot::Receiver<Result<(), serenity::Error>>,
    stop: Option<oneshot::Sender<()>>,
    stopped: oneshot::Receiver<()>,
}

impl Session {
    /// `activity` counts the session's end once its runtime is gone.
    fn start<H: EventHandler + 'static>(
        http: Http,
        handler: H,
        intents: GatewayIntents,
        gateway: String,
        activity: Activity,
    ) -> std::io::Result<Session> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let manager = Arc::new(OnceLock::new());
        let (ended_tx, ended) = oneshot::channel();
        let (stop, stop_rx) = oneshot::channel::<()>();
        let (stopped_tx, stopped) = oneshot::channel();
        let slot = manager.clone();
        let url = gateway.clone();
        std::thread::Builder::new()
            .name("discord-session".to_owned())
            .spawn(move || {
                runtime.block_on(async move {
                    let run = async {
                        let mut client = ClientBuilder::new_with_http(http, intents)
                            .event_handler(handler)
                            .await?;
                        // The URL probed, not serenity's own lookup (which
                        // falls back to discord.gg when the API is away).
                        *client.ws_url.lock().await = url;
                        let _ = slot.set(client.shard_manager.clone());
                        client.start().await
                    };
                    tokio::select! {
                        result = run => { let _ = ended_tx.send(result); }
                        _ = stop_rx => {
                            if let Some(manager) = slot.get() {
                                let _ = tokio::time::timeout(SHUTDOWN_GRACE, manager.shutdown_all()).await;
                            }
                        }
                    }
                });
                runtime.shutdown_timeout(Duration::from_millis(500));
                activity.session_ended();
                let _ = stopped_tx.send(());
            })?;
        Ok(Session {
            gateway,
            manager,
            ended,
            stop: Some(stop),
            stopped,
        })
    }

    async fn connected(&self) -> bool {
        match self.manager.get() {
            Some(manager) => manager
                .runners
                .lock()
                .await
                .values()
                .any(|runner| runner.stage == ConnectionStage::Connected),
            None => false,
        }
    }

    /// Until the session ends one way or another; says so once, when the shard first connects.
    async fn watch(&mut self, shutdown: &mut Shutdown) -> Watched {
        let mut every = tokio::time::interval(WATCH_EVERY);
        let mut last_connected = Instant::now();
        let mut was_connected = false;
        loop {
            tokio::select! {
                _ = shutdown.requested() => return Watched::Shutdown,
                ended = &mut self.ended => {
                    let why = match ended {
                        Ok(Err(error)) if is_fatal(&error) => return Watched::Fatal(error),
                        Ok(Err(error)) => error.to_string(),
                        _ => "the client stopped".to_owned(),
                    };
                    return Watched::Down {
                        down: Down::Lost { url: self.gateway.clone(), why },
                        had_session: was_connected,
                    };
                }
                _ = every.tick() => {}
            }
            if self.connected().await {
                if !was_connected {
                    was_connected = true;
                    info!("connected to the gateway at {}", self.gateway);
                }
                last_connected = Instant::now();
            } else if last_connected.elapsed() >= NOT_CONNECTED_GRACE {
                let url = self.gateway.clone();
                let down = if was_connected {
                    Down::Lost {
                        url,
                        why: format!("not connected for {}", short(NOT_CONNECTED_GRACE)),
                    }
                } else {
                    Down::Handshake { url }
                };
                return Watched::Down {
                    down,
                    had_session: was_connected,
                };
            }
        }
    }

    /// Asks the shards to close, waits at most [`SHUTDOWN_GRACE`] (and a little
    /// for the runtime), and ends the session whatever it is doing.
    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = tokio::time::timeout(SHUTDOWN_GRACE + Duration::from_secs(1), self.stopped).await;
    }
}

/// Runs sessions until `shutdown`, waiting out the backoff between them
/// ([`keep_trying`]) and logging when Discord is down and when it is back.
/// `rest` builds a REST client (one per session); `handler` a fresh event
/// handler.
pub(crate) async fn stay_connected<H: EventHandler + 'static>(
    base: &str,
    token: &str,
    intents: GatewayIntents,
    rest: impl Fn() -> Http,
    handler: impl Fn() -> H,
    activity: &Activity,
    shutdown: impl Future<Output = ()>,
) -> Result<(), Error> {
    let (rest, handler) = (&rest, &handler);
    // No session is ever `Reached`: only shutdown or a fatal error end the loop.
    let _: Option<Infallible> = keep_trying(
        shutdown,
        |mut shutdown| async move {
            let http = rest();
            let probed = tokio::select! {
                _ = shutdown.requested() => return Attempt::Stopped,
                probed = probe(&http, base, token, intents) => probed,
            };
            let gateway = match probed {
                Ok(gateway) => gateway,
                Err(down) => {
                    return Attempt::Down {
                        why: down.to_string(),
                        had_session: false,
                    };
                }
            };
            let mut session =
                match Session::start(rest(), handler(), intents, gateway, activity.clone()) {
                    Ok(session) => session,
                    Err(e) => return Attempt::Fatal(Error::Runtime(e.to_string())),
                };
            let watched = session.watch(&mut shutdown).await;
            session.stop().await;
            match watched {
                Watched::Shutdown => Attempt::Stopped,
                Watched::Fatal(error) => Attempt::Fatal(error.into()),
                Watched::Down { down, had_session } => Attempt::Down {
                    why: down.to_string(),
                    had_session,
                },
            }
        },
        // One sentence a person reads, as it is: URLs and causes, never a token.
        |line| warn!("{line}"),
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_way_of_being_down_names_where() {
        let api = Down::Api {
            base: "http://127.0.0.1:9".to_owned(),
            error: "connection refused".to_owned(),
        };
        assert_eq!(
            api.to_string(),
            "can't reach Discord's API at http://127.0.0.1:9: connection refused"
        );
        let handshake = Down::Handshake {
            url: "wss://gateway.discord.gg".to_owned(),
        };
        assert_eq!(
            handshake.to_string(),
            "the gateway at wss://gateway.discord.gg opened but did not let the bot in within 10s"
        );
    }
}
