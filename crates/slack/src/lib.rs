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
use std::time::Duration;

use rushbox_chat::backoff::{Attempt, keep_trying, short, with_causes};
use rushbox_chat::{NoticeFeed, Robot};
use slack_morphism::errors::SlackClientError;
use slack_morphism::prelude::*;
use tracing::{info, warn};

pub use adapter::{BotIdentity, SlackBot};
pub use config::{SlackConfig, SlackMode, SlackTokens};
pub use rushbox_chat::activity::{Activity, Counts};

/// How long each call that checks the connection at start may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

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
    /// Slack's Web API did not answer, or answered that it is in trouble
    /// (5xx, rate limits): worth trying again.
    Unreachable { url: String, error: String },
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
            SlackError::Unreachable { url, error } => {
                write!(f, "can't reach Slack's Web API at {url}: {error}")
            }
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

/// [`connect_with`], tried again while Slack can't be reached
/// ([`SlackError::Unreachable`]): each failure, and when the next attempt
/// comes (5 s, doubling up to every 5 minutes), logged at WARN. `None`
/// if `shutdown` resolves first. Slack's refusals (a wrong token) end it at once.
pub async fn connect_retrying(
    config: &SlackConfig,
    tokens: SlackTokens,
    robot: Robot,
    shutdown: impl Future<Output = ()>,
) -> Result<Option<Slack>, SlackError> {
    let mut attempts = 0;
    keep_trying(
        shutdown,
        |mut shutdown| {
            // Only an attempt that found Slack down is followed by another.
            attempts += 1;
            let after_trouble = attempts > 1;
            let (tokens, robot) = (tokens.clone(), robot.clone());
            async move {
                let attempt = tokio::select! {
                    _ = shutdown.requested() => return Attempt::Stopped,
                    attempt = connect_with(config, tokens, robot) => attempt,
                };
                match attempt {
                    Err(error @ SlackError::Unreachable { .. }) => Attempt::Down {
                        why: error.to_string(),
                        had_session: false,
                    },
                    Ok(slack) => {
                        if after_trouble {
                            info!("reached Slack's Web API at {}", config.api_url());
                        }
                        Attempt::Reached(slack)
                    }
                    Err(error) => Attempt::Fatal(error),
                }
            }
        },
        // One sentence a person reads, as it is: the URL and the cause, never a token.
        |line| warn!("{line}"),
    )
    .await
}

/// Checks the bot token with `auth.test` and, in Socket Mode, the app
/// token with one `apps.connections.open` (slack-morphism would retry a
/// refused one forever, saying so only through `tracing`), each within
/// [`CONNECT_TIMEOUT`]; then subscribes to the Robot's notices.
pub async fn connect_with(
    config: &SlackConfig,
    tokens: SlackTokens,
    robot: Robot,
) -> Result<Slack, SlackError> {
    let client = client(config.api_url())?;
    let unreachable = |error: String| SlackError::Unreachable {
        url: config.api_url().to_owned(),
        error,
    };
    let no_answer = || unreachable(format!("no answer within {}", short(CONNECT_TIMEOUT)));
    let notices = robot.notices();
    let bot_token = SlackApiToken::new(SlackApiTokenValue(tokens.bot.clone()));
    let bot = tokio::time::timeout(CONNECT_TIMEOUT, SlackBot::connect(client, bot_token, robot))
        .await
        .map_err(|_| no_answer())?
        .map_err(|error| match transient(&error) {
            Some(why) => unreachable(why),
            None => SlackError::Api(error),
        })?;
    if let (SlackMode::SocketMode, Some(app)) = (config.mode, &tokens.app) {
        let app_token = SlackApiToken::new(SlackApiTokenValue(app.clone()));
        let session = bot.client().open_session(&app_token);
        let request = SlackApiAppsConnectionOpenRequest::new();
        let check = session.apps_connections_open(&request);
        match tokio::time::timeout(CONNECT_TIMEOUT, check).await {
            Err(_) => return Err(no_answer()),
            Ok(Err(error)) => {
                return Err(match transient(&error) {
                    Some(why) => unreachable(why),
                    None => SlackError::AppToken {
                        variable: config.app_token_env.clone(),
                        error,
                    },
                });
            }
            Ok(Ok(_)) => {}
        }
    }
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
                // `connect_with` checked this token.
                let app_token = SlackApiToken::new(SlackApiTokenValue(app));
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

/// Why `error` is worth trying again after (Slack not answering, or
/// answering that it is in trouble), or `None` for Slack's refusals.
fn transient(error: &SlackClientError) -> Option<String> {
    match error {
        SlackClientError::HttpProtocolError(protocol) => Some(match &protocol.cause {
            Some(cause) => with_causes(cause.as_ref()),
            None => error.to_string(),
        }),
        SlackClientError::HttpError(http)
            if http.status_code.is_server_error() || http.status_code.as_u16() == 429 =>
        {
            Some(format!("HTTP {}", http.status_code))
        }
        SlackClientError::RateLimitError(_) => Some("rate limited".to_owned()),
        SlackClientError::ApiError(api)
            if matches!(
                api.code.as_str(),
                "internal_error"
                    | "fatal_error"
                    | "service_unavailable"
                    | "request_timeout"
                    | "ratelimited"
            ) =>
        {
            Some(format!("Slack answered `{}`", api.code))
        }
        _ => None,
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
