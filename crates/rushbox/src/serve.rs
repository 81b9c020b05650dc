//! `rushbox serve`: the bot for a team, on the chat platforms its config
//! names (`[slack]`, `[discord]`), until SIGINT or SIGTERM. Timed rules run
//! every few seconds; with the local provider, the router serves the envs;
//! with `[slack] mode = "http"`, the webhook server (`[http] listen`) takes
//! Slack's requests under `/slack`. Once asked to stop, the platforms get
//! [`SHUTDOWN_GRACE`] to finish and are then left behind: a platform that
//! can't be reached never keeps rushbox running.

use std::future::Future;
use std::time::Duration;

use rushbox_chat::Notice;
use rushbox_slack::{SlackMode, SlackTokens};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::{Config, HttpSection};
use crate::shell::Bot;

/// How often timed rules (lease expiry, idle suspend, TTL) are checked.
const TICK: Duration = Duration::from_secs(5);
/// How long the platforms get to finish once rushbox is asked to stop.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

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
    endpoints_from_env(&mut config);
    if config.slack.is_none() && config.discord.is_none() {
        return Err("the config names no chat platform: add `[slack]` or `[discord]` (or use `rushbox shell`)".to_owned());
    }
    let slack_over_http = config
        .slack
        .as_ref()
        .is_some_and(|s| s.mode == SlackMode::Http);
    if config.http.is_some() && !slack_over_http {
        eprintln!(
            "rushbox: `[http]` is set but nothing uses it: the webhook server runs for `[slack] mode = \"http\"` only"
        );
    }
    let bot = Bot::start(&config)?;
    if bot.reaped > 0 {
        eprintln!(
            "rushbox: stopped {} process group(s) a previous run left running",
            bot.reaped
        );
    }
    let interrupted = bot.robot.interrupted();
    for notice in &interrupted {
        eprintln!("rushbox: for {}: {}", notice.to, notice.reply.summary());
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
    eprintln!("rushbox: serving; Ctrl-C or SIGTERM stops it");
    let mut first_error = None;
    tokio::select! {
        _ = shutdown_signal() => eprintln!("rushbox: stopping"),
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
        eprintln!(
            "rushbox: {} did not stop within {}s; stopping without waiting",
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
        eprintln!("rushbox: Slack Events API at http://{address}/slack/events{default}");
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
            "discord:81:lead:7",
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
        assert_eq!(to("discord"), ["discord:81:lead:7", "discord:dm:8"]);
        assert!(to("teams").is_empty());
    }
}
