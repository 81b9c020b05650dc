//! What the binary loads from its config file for Slack, and the tokens,
//! which come only from environment variables (never from the file).

use std::fmt;

use serde::Deserialize;

/// Slack's Web API.
pub const DEFAULT_API_URL: &str = "https://slack.com/api";

/// The `[slack]` section of rushbox's config.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SlackConfig {
    /// The Web API base, without a trailing slash (tests point it at a local server).
    pub api_url: Option<String>,
    /// The variable holding the app-level token (`xapp-…`, Socket Mode only).
    pub app_token_env: String,
    /// The variable holding the bot token (`xoxb-…`).
    pub bot_token_env: String,
    /// The variable holding the signing secret (Events API over HTTP only).
    pub signing_secret_env: String,
    pub mode: SlackMode,
}

impl Default for SlackConfig {
    fn default() -> SlackConfig {
        SlackConfig {
            api_url: None,
            app_token_env: "SLACK_APP_TOKEN".to_owned(),
            bot_token_env: "SLACK_BOT_TOKEN".to_owned(),
            signing_secret_env: "SLACK_SIGNING_SECRET".to_owned(),
            mode: SlackMode::SocketMode,
        }
    }
}

impl SlackConfig {
    pub fn api_url(&self) -> &str {
        self.api_url
            .as_deref()
            .unwrap_or(DEFAULT_API_URL)
            .trim_end_matches('/')
    }
}

/// How Slack reaches rushbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SlackMode {
    /// rushbox opens a WebSocket to Slack: no public address needed.
    #[default]
    SocketMode,
    /// Slack POSTs to rushbox's HTTP server (mount [`crate::Slack::router`]).
    Http,
}

/// The secrets, read from the environment. `Debug` never shows them.
#[derive(Clone)]
pub struct SlackTokens {
    pub bot: String,
    pub app: Option<String>,
    pub signing_secret: Option<String>,
}

impl fmt::Debug for SlackTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SlackTokens")
            .field("bot", &"…")
            .field("app", &self.app.as_ref().map(|_| "…"))
            .field("signing_secret", &self.signing_secret.as_ref().map(|_| "…"))
            .finish()
    }
}

impl SlackTokens {
    /// Reads the variables the config names; the ones the mode needs must be set.
    pub fn from_env(config: &SlackConfig) -> Result<SlackTokens, crate::SlackError> {
        let read = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let need = |name: &str| {
            read(name).ok_or_else(|| crate::SlackError::MissingSecret {
                variable: name.to_owned(),
            })
        };
        let bot = need(&config.bot_token_env)?;
        let (app, signing_secret) = match config.mode {
            SlackMode::SocketMode => (
                Some(need(&config.app_token_env)?),
                read(&config.signing_secret_env),
            ),
            SlackMode::Http => (None, Some(need(&config.signing_secret_env)?)),
        };
        Ok(SlackTokens {
            bot,
            app,
            signing_secret,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_unknown_keys() {
        let config: SlackConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(config, SlackConfig::default());
        assert_eq!(config.api_url(), DEFAULT_API_URL);
        let http: SlackConfig =
            serde_json::from_str(r#"{"mode":"http","api_url":"http://127.0.0.1:9/api/"}"#).unwrap();
        assert_eq!(http.mode, SlackMode::Http);
        assert_eq!(http.api_url(), "http://127.0.0.1:9/api");
        assert!(serde_json::from_str::<SlackConfig>(r#"{"bot_token":"xoxb-1"}"#).is_err());
    }

    #[test]
    fn debug_hides_secrets() {
        let tokens = SlackTokens {
            bot: "xoxb-secret".to_owned(),
            app: Some("xapp-secret".to_owned()),
            signing_secret: None,
        };
        assert!(!format!("{tokens:?}").contains("secret\""));
        assert!(!format!("{tokens:?}").contains("xoxb"));
    }
}
