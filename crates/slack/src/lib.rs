//! rushbox's Slack adapter: Slack events in (Socket Mode or the Events API),
//! the chat layer's [`Robot`] in the middle, Block Kit out. It knows Slack
//! and the chat model, nothing of the pipeline's store.
//!
//! ```no_run
//! # async fn example(robot: rushbox_chat::Robot) -> Result<(), rushbox_slack::SlackError> {
//! let config = rushbox_slack::SlackConfig::default(); // Socket Mode, tokens from SLACK_* variables
//! rushbox_slack::run(&config, robot, async { let _ = tokio::signal::ctrl_c().await; }).await
//! # }
//! ```

pub mod adapter;
pub mod config;
pub mod events_api;
pub mod render;
pub mod socket_mode;

use std::future::Future;
use std::sync::Arc;

use rushbox_chat::{NoticeFeed, Robot};
use slack_morphism::errors::SlackClientError;
use slack_morphism::prelude::*;

pub use adapter::{BotIdentity, Log, SlackBot};
pub use config::{SlackConfig, SlackMode, SlackTokens};

/// What can stop the adapter, said so a person can fix it.
#[derive(Debug)]
pub enum SlackError {
    /// A token or secret the mode needs is not in the environment.
    MissingSecret { variable: String },
    /// The HTTP client could not be built (no system certificate store).
    Client(String),
    /// Slack refused or could not be reached (bad token, network).
    Api(SlackClientError),
    /// Slack refused the app-level token (Socket Mode), named by its variable.
    AppToken {
        variable: String,
        error: SlackClientError,
    },
}

impl std::fmt::Display for SlackError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SlackError::MissingSecret { variable } => write!(
                f,
                "the environment variable `{variable}` is not set; see crates/slack/README.md for where to find it"
            ),
            SlackError::Client(why) => write!(f, "cannot build the HTTPS client for Slack: {why}"),
            SlackError::Api(error) => write!(
                f,
                "Slack did not accept the connection ({error}); check the tokens and the app's scopes"
            ),
            SlackError::AppToken { variable, error } => write!(
                f,
                "Slack refused the app-level token in `{variable}` ({error}); make one under Basic Information → App-Level Tokens with the `connections:write` scope"
            ),
        }
    }
}

impl std::error::Error for SlackError {}

/// A Slack client for the given Web API base (`https://slack.com/api` or a
/// local test server): HTTPS with the system's roots, plain HTTP allowed for tests.
pub fn client(api_url: &str) -> Result<Arc<adapter::Client>, SlackError> {
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_native_roots()
        .map_err(|e| SlackError::Client(e.to_string()))?
        .https_or_http()
        .enable_http1()
        .build();
    let connector = SlackClientHyperConnector::from(https).with_slack_api_url(api_url);
    Ok(Arc::new(SlackClient::new(connector)))
}

/// The adapter, connected to one workspace and ready to run.
pub struct Slack {
    bot: Arc<SlackBot>,
    tokens: SlackTokens,
    config: SlackConfig,
    notices: NoticeFeed,
}

/// Reads the tokens from the environment and connects (see [`connect_with`]).
pub async fn connect(config: &SlackConfig, robot: Robot) -> Result<Slack, SlackError> {
    let tokens = SlackTokens::from_env(config)?;
    connect_with(config, tokens, robot).await
}

/// Checks the bot token with `auth.test` and subscribes to the Robot's notices.
pub async fn connect_with(
    config: &SlackConfig,
    tokens: SlackTokens,
    robot: Robot,
) -> Result<Slack, SlackError> {
    let client = client(config.api_url())?;
    let notices = robot.notices();
    let bot_token = SlackApiToken::new(SlackApiTokenValue(tokens.bot.clone()));
    let bot = SlackBot::connect(client, bot_token, robot)
        .await
        .map_err(SlackError::Api)?;
    Ok(Slack {
        bot: Arc::new(bot),
        tokens,
        config: config.clone(),
        notices,
    })
}

impl Slack {
    pub fn bot(&self) -> &Arc<SlackBot> {
        &self.bot
    }

    /// Sends failure reports (Web API errors, rejected requests) to `log`
    /// instead of standard error. Call it before [`Slack::router`] and [`Slack::run`].
    pub fn with_log(mut self, log: Log) -> Slack {
        match Arc::get_mut(&mut self.bot) {
            Some(bot) => bot.log = log,
            None => log("rushbox-slack: with_log came too late; logging to standard error"),
        }
        self
    }

    /// The Events API routes (`POST /events`, `/commands`, `/actions`), for the
    /// binary to mount (e.g. `Router::new().nest("/slack", router)`). Needs the
    /// signing secret.
    pub fn router(&self) -> Result<axum::Router, SlackError> {
        let secret =
            self.tokens
                .signing_secret
                .as_deref()
                .ok_or_else(|| SlackError::MissingSecret {
                    variable: self.config.signing_secret_env.clone(),
                })?;
        Ok(events_api::router(self.bot.clone(), secret))
    }

    /// Runs until `shutdown` resolves: delivers notices by DM, keeps the
    /// members of user groups named in roles fresh and, in Socket Mode,
    /// listens to Slack. In HTTP mode the events arrive through the
    /// router the binary mounted.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), SlackError> {
        let notices = tokio::spawn(self.bot.clone().deliver_notices(self.notices));
        let groups = tokio::spawn(self.bot.clone().keep_groups_fresh());
        let result = match (self.config.mode, self.tokens.app) {
            (SlackMode::SocketMode, Some(app)) => {
                let app_token = SlackApiToken::new(SlackApiTokenValue(app));
                // slack-morphism retries a refused app token forever and says
                // so only through `tracing`: ask once, so a wrong one stops us.
                let check = self
                    .bot
                    .client()
                    .open_session(&app_token)
                    .apps_connections_open(&SlackApiAppsConnectionOpenRequest::new())
                    .await;
                if let Err(error) = check {
                    notices.abort();
                    groups.abort();
                    return Err(SlackError::AppToken {
                        variable: self.config.app_token_env.clone(),
                        error,
                    });
                }
                socket_mode::listen(
                    self.bot,
                    app_token,
                    SlackClientSocketModeConfig::new(),
                    shutdown,
                )
                .await
            }
            (SlackMode::SocketMode, None) => Err(SlackError::MissingSecret {
                variable: self.config.app_token_env.clone(),
            }),
            (SlackMode::Http, _) => {
                shutdown.await;
                Ok(())
            }
        };
        notices.abort();
        groups.abort();
        result
    }
}

/// Connects with the tokens from the environment and runs until `shutdown`.
pub async fn run(
    config: &SlackConfig,
    robot: Robot,
    shutdown: impl Future<Output = ()>,
) -> Result<(), SlackError> {
    connect(config, robot).await?.run(shutdown).await
}
