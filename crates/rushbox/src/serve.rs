//! `rushbox serve`: the bot for a team, on the chat platforms its config
//! names (`[slack]`, `[discord]`), until SIGINT or SIGTERM. Timed rules run
//! every few seconds; with the local provider, the router serves the envs.

use std::time::Duration;

use tokio::sync::watch;

use crate::config::Config;
use crate::shell::Bot;

/// How often timed rules (lease expiry, idle suspend, TTL) are checked.
const TICK: Duration = Duration::from_secs(5);

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
    if config
        .slack
        .as_ref()
        .is_some_and(|s| s.mode == rushbox_slack::SlackMode::Http)
    {
        return Err("`[slack] mode = \"http\"`: `rushbox serve` does not serve the Events API endpoint yet; use `mode = \"socket_mode\"`".to_owned());
    }
    let bot = Bot::start(&config)?;
    if bot.reaped > 0 {
        eprintln!(
            "rushbox: stopped {} process group(s) a previous run left running",
            bot.reaped
        );
    }
    for notice in bot.robot.interrupted() {
        eprintln!("rushbox: for {}: {}", notice.to, notice.reply.summary());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("can't start the runtime: {e}"))?;
    let result = runtime.block_on(serve(&config, &bot));
    bot.stop();
    result
}

async fn serve(config: &Config, bot: &Bot) -> Result<(), String> {
    let (stop, stopping) = watch::channel(false);
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let mut tasks = tokio::task::JoinSet::new();
    if let Some(slack) = config.slack.clone() {
        let robot = bot.robot.clone();
        let shutdown = stopped(stopping.clone());
        tasks.spawn(async move {
            rushbox_slack::run(&slack, robot, shutdown)
                .await
                .map_err(|e| format!("slack: {e}"))
        });
    }
    if let Some(discord) = config.discord.clone() {
        let robot = bot.robot.clone();
        let shutdown = stopped(stopping.clone());
        tasks.spawn(async move {
            rushbox_discord::run(discord, robot, shutdown)
                .await
                .map_err(|e| format!("discord: {e}"))
        });
    }
    let robot = bot.robot.clone();
    let mut ticking = stopping.clone();
    tasks.spawn(async move {
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
    eprintln!("rushbox: serving; Ctrl-C or SIGTERM stops it");
    let mut first_error = None;
    tokio::select! {
        _ = shutdown_signal() => {}
        Some(ended) = tasks.join_next() => {
            // An adapter that stops on its own (a bad token) stops rushbox, saying why.
            if let Ok(Err(why)) = ended {
                first_error = Some(why);
            }
        }
    }
    let _ = stop.send(true);
    while let Some(ended) = tasks.join_next().await {
        if let (Ok(Err(why)), None) = (ended, &first_error) {
            first_error = Some(why);
        }
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
