//! `rushbox serve`: the bot for a team, on the chat platforms its config
//! names (`[slack]`, `[discord]`), until SIGINT or SIGTERM. Timed rules run
//! every few seconds; with the local provider, the router serves the envs;
//! with `[slack] mode = "http"`, the webhook server (`[http] listen`) takes
//! Slack's requests under `/slack`. Once asked to stop, the platforms get
//! [`SHUTDOWN_GRACE`] to finish and are then left behind: a platform that
//! can't be reached never keeps rushbox running. What it says while it runs
//! is `tracing` events, one line each on standard error (see [`log_to_stderr`]).

use std::future::Future;
use std::time::Duration;

use rushbox_chat::Notice;
use rushbox_slack::{SlackMode, SlackTokens};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::{info, warn};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use crate::bot::{Bot, TICK};
use crate::config::{Config, HttpSection};

/// How long the platforms get to finish once rushbox is asked to stop.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// What is logged unless `RUST_LOG` says otherwise: rushbox's own news, and
/// the libraries' warnings (serenity's events it could not read, among them).
/// Not slack-morphism's: its lines can carry a Socket Mode URL, whose ticket
/// opens a link, and the Slack adapter reports what matters itself.
const DEFAULT_LOG: &str = "warn,slack_morphism=off,rushbox=info,rushbox_chat=info,\
                           rushbox_pipeline=info,rushbox_router=info,rushbox_slack=info,\
                           rushbox_discord=info";

/// Sends `tracing` events to standard error, one line each, as
/// `scope: message key=value…` (see [`Lines`]). `RUST_LOG` (e.g.
/// `rushbox_discord=debug`) chooses what is shown instead of [`DEFAULT_LOG`].
fn log_to_stderr() {
    let filter = match std::env::var("RUST_LOG") {
        Ok(directives) if !directives.trim().is_empty() => EnvFilter::try_new(&directives)
            .unwrap_or_else(|e| {
                eprintln!("rushbox: RUST_LOG={directives:?} can't be read ({e}); logging what is logged by default");
                EnvFilter::new(DEFAULT_LOG)
            }),
        _ => EnvFilter::new(DEFAULT_LOG),
    };
    // Fails only if a subscriber is installed already, which is then used.
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter)
        .event_format(Lines)
        .try_init();
}

/// One line per event: `discord: connected to the gateway at wss://…`. The
/// scope is the crate that spoke, without `rushbox_` (`slack`, `discord`,
/// `rushbox`, `serenity`); then the message and its fields. No time or level:
/// a service manager stamps the time, and the words say how bad it is.
struct Lines;

impl<S, N> FormatEvent<S, N> for Lines
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        write!(writer, "{}: ", scope(event.metadata().target()))?;
        ctx.format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

/// `rushbox_discord::connection` → `discord`, `rushbox::serve` → `rushbox`.
fn scope(target: &str) -> &str {
    let krate = target.split("::").next().unwrap_or(target);
    krate.strip_prefix("rushbox_").unwrap_or(krate)
}

/// Endpoint overrides from the environment, for GovSlack, proxies and tests:
/// `SLACK_API_URL` and `DISCORD_API_PROXY`, used when the config sets none.
fn endpoints_from_env(config: &mut Config) {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    if let Some(slack) = &mut config.slack
        && slack.api_url.is_none()
    {
        slack.api_url = var("SLACK_API_URL");
    }
    if let Some(discord) = &mut config.discord
        && discord.api_proxy.is_none()
    {
        discord.api_proxy = var("DISCORD_API_PROXY");
    }
}

pub fn run(mut config: Config) -> Result<(), String> {
    log_to_stderr();
    endpoints_from_env(&mut config);
    if config.slack.is_none() && config.discord.is_none() {
        return Err("the config names no chat platform: add `[slack]` or `[discord]` (or use `rushbox shell`)".to_owned());
    }
    let slack_over_http = config
        .slack
        .as_ref()
        .is_some_and(|s| s.mode == SlackMode::Http);
    if config.http.is_some() && !slack_over_http {
        warn!(
            "`[http]` is set but nothing uses it: the webhook server runs for `[slack] mode = \"http\"` only"
        );
    }
    let bot = Bot::start(&config)?;
    if bot.reaped > 0 {
        info!(
            "stopped {} process group(s) a previous run left running",
            bot.reaped
        );
    }
    let interrupted = bot.robot.interrupted();
    for notice in &interrupted {
        info!("for {}: {}", notice.to, notice.reply.summary());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("can't start the runtime: {e}"))?;
    let result = runtime.block_on(serve(&config, &bot, &interrupted));
    // Whatever a platform still does (a stalled connect) must not hold the exit.
    runtime.shutdown_timeout(Duration::from_secs(1));
    bot.stop();
    result
}

async fn serve(config: &Config, bot: &Bot, interrupted: &[Notice]) -> Result<(), String> {
    let (stop, stopping) = watch::channel(false);
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    // Bound before anything connects, so a taken port is an error at start-up.
    let webhooks = match &config.slack {
        Some(slack) if slack.mode == SlackMode::Http => {
            Some(WebhookServer::bind(config.http.as_ref()).await?)
        }
        _ => None,
    };
    let mut tasks = tokio::task::JoinSet::new();
    // What each task is, to say which one would not stop.
    let mut names = std::collections::HashMap::new();
    if let Some(slack) = config.slack.clone() {
        let robot = bot.robot.clone();
        let notices = for_platform(interrupted, "slack");
        let shutdown = stopped(stopping.clone());
        let server_shutdown = stopped(stopping.clone());
        let connecting_shutdown = stopped(stopping.clone());
        let task = tasks.spawn(async move {
            let tokens = SlackTokens::from_env(&slack).map_err(|e| format!("slack: {e}"))?;
            let connected =
                rushbox_slack::connect_retrying(&slack, tokens, robot, connecting_shutdown)
                    .await
                    .map_err(|e| format!("slack: {e}"))?;
            let Some(slack) = connected else {
                return Ok(()); // stopped before Slack answered
            };
            let dms = slack.bot().clone();
            tokio::spawn(async move {
                for notice in notices {
                    dms.notify(notice).await;
                }
            });
            let Some(webhooks) = webhooks else {
                return slack.run(shutdown).await.map_err(|e| format!("slack: {e}"));
            };
            let routes = slack.router().map_err(|e| format!("slack: {e}"))?;
            let running = async { slack.run(shutdown).await.map_err(|e| format!("slack: {e}")) };
            tokio::try_join!(webhooks.serve(routes, server_shutdown), running).map(drop)
        });
        names.insert(task.id(), "slack");
    }
    if let Some(discord) = config.discord.clone() {
        let robot = bot.robot.clone();
        let notices = for_platform(interrupted, "discord");
        let shutdown = stopped(stopping.clone());
        let task = tasks.spawn(async move {
            let token =
                rushbox_discord::token_from_env(&discord).map_err(|e| format!("discord: {e}"))?;
            if !notices.is_empty() {
                // Over REST, so they need not wait for the gateway.
                let (discord, token) = (discord.clone(), token.clone());
                tokio::spawn(
                    async move { rushbox_discord::notify(&discord, &token, &notices).await },
                );
            }
            rushbox_discord::run_with_token(discord, robot, &token, shutdown)
                .await
                .map_err(|e| format!("discord: {e}"))
        });
        names.insert(task.id(), "discord");
    }
    let robot = bot.robot.clone();
    let mut ticking = stopping.clone();
    let task = tasks.spawn(async move {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(TICK) => {}
                _ = ticking.wait_for(|stop| *stop) => return Ok(()),
            }
            let robot = robot.clone();
            // Notices go out on the feed each adapter reads; the work it starts runs on.
            let _ = tokio::task::spawn_blocking(move || robot.tick()).await;
        }
    });
    names.insert(task.id(), "the timed rules");
    info!("serving; Ctrl-C or SIGTERM stops it");
    let mut first_error = None;
    tokio::select! {
        _ = shutdown_signal() => info!("stopping"),
        Some(ended) = tasks.join_next_with_id() => {
            // An adapter that stops on its own (a bad token) stops rushbox, saying why.
            match ended {
                Ok((id, result)) => {
                    names.remove(&id);
                    first_error = result.err();
                }
                Err(panicked) => {
                    names.remove(&panicked.id());
                }
            }
        }
    }
    let _ = stop.send(true);
    let finished = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while let Some(ended) = tasks.join_next_with_id().await {
            let (id, result) = match ended {
                Ok(ended) => ended,
                Err(panicked) => (panicked.id(), Ok(())),
            };
            names.remove(&id);
            if let (Err(why), None) = (result, &first_error) {
                first_error = Some(why);
            }
        }
    })
    .await;
    if finished.is_err() {
        let busy: Vec<&str> = names.into_values().collect();
        warn!(
            "{} did not stop within {}s; stopping without waiting",
            busy.join(" and "),
            SHUTDOWN_GRACE.as_secs()
        );
        tasks.abort_all();
    }
    match first_error {
        Some(why) => Err(why),
        None => Ok(()),
    }
}

async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate => {}
    }
}

/// The notices for people on `platform` (`slack`, `discord`): those whose
/// actor id starts `platform:`.
fn for_platform(notices: &[Notice], platform: &str) -> Vec<Notice> {
    notices
        .iter()
        .filter(|n| {
            n.to.as_str()
                .strip_prefix(platform)
                .is_some_and(|rest| rest.starts_with(':'))
        })
        .cloned()
        .collect()
}

/// rushbox's webhook server: Slack's Events API under `/slack`, and
/// `GET /healthz` for load balancers and tunnels.
struct WebhookServer {
    listener: TcpListener,
    /// `[http]` is absent, so the address is its default.
    defaulted: bool,
}

impl WebhookServer {
    async fn bind(section: Option<&HttpSection>) -> Result<WebhookServer, String> {
        let listen = section.cloned().unwrap_or_default().listen;
        let listener = TcpListener::bind(listen).await.map_err(|e| {
            format!(
                "the webhook server for Slack's Events API can't listen on {listen}: {e} (set `[http] listen` to a free address)"
            )
        })?;
        Ok(WebhookServer {
            listener,
            defaulted: section.is_none(),
        })
    }

    /// Serves until `shutdown`, then lets requests under way finish.
    async fn serve(
        self,
        slack: axum::Router,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), String> {
        let address = self
            .listener
            .local_addr()
            .map_err(|e| format!("the webhook server has no address: {e}"))?;
        let default = if self.defaulted {
            " (the default; `[http] listen` sets another)"
        } else {
            ""
        };
        info!("Slack Events API at http://{address}/slack/events{default}");
        let routes = axum::Router::new()
            .nest("/slack", slack)
            .route("/healthz", axum::routing::get(|| async { "ok\n" }));
        axum::serve(self.listener, routes)
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(|e| format!("the webhook server on {address} stopped: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rushbox_chat::{Reply, Tone};

    #[test]
    fn each_platform_gets_the_notices_for_its_people() {
        let notice = |to: &str| Notice {
            to: rushbox_pipeline::Actor::parse(to).unwrap(),
            reply: Reply::text(Tone::Error, "cut short"),
        };
        let notices = [
            "slack:T1:U1",
            "discord:81:7",
            "discord:dm:8",
            "shell:alice",
            "slackbot:x",
            "slack",
        ]
        .map(notice);
        let to = |platform: &str| -> Vec<String> {
            for_platform(&notices, platform)
                .iter()
                .map(|n| n.to.as_str().to_owned())
                .collect()
        };
        assert_eq!(to("slack"), ["slack:T1:U1"]);
        assert_eq!(to("discord"), ["discord:81:7", "discord:dm:8"]);
        assert!(to("teams").is_empty());
    }

    #[test]
    fn log_lines_are_scoped_by_the_crate_that_spoke() {
        assert_eq!(scope("rushbox_discord::connection"), "discord");
        assert_eq!(scope("rushbox_slack"), "slack");
        assert_eq!(scope("rushbox::serve"), "rushbox");
        assert_eq!(scope("serenity::gateway::shard"), "serenity");
        assert!(EnvFilter::try_new(DEFAULT_LOG).is_ok(), "{DEFAULT_LOG}");
    }
}
