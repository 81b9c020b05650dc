//! Socket Mode: slack-morphism's listener keeps a WebSocket to Slack (the
//! URL comes from `apps.connections.open`) and acks each envelope when its
//! callback returns. The callbacks return once [`SlackBot`] has decided the
//! event and the decision is on disk (milliseconds); replies and progress go
//! out in the background. So an acked envelope is never lost to a crash, and
//! one redelivered after a crash is dropped by its id, which the engine
//! stored with the decision. When a link ends (Slack's
//! `disconnect` envelope, a close frame, a cut connection), slack-morphism
//! calls `apps.connections.open` again at once, then every
//! `reconnect_timeout_in_seconds` (30 s) while that fails; what Slack
//! redelivers on the new link is dropped by [`SlackBot`]'s delivery ids.

use std::future::Future;
use std::sync::Arc;

use slack_morphism::errors::SlackClientError;
use slack_morphism::prelude::*;
use tracing::warn;

use crate::SlackError;
use crate::adapter::{Client, SlackBot};

/// Listens until `shutdown` resolves.
pub async fn listen(
    bot: Arc<SlackBot>,
    app_token: SlackApiToken,
    config: SlackClientSocketModeConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<(), SlackError> {
    let environment = Arc::new(
        SlackClientEventsListenerEnvironment::new(bot.client().clone())
            .with_error_handler(on_error)
            .with_user_state(bot),
    );
    let callbacks = SlackSocketModeListenerCallbacks::new()
        .with_push_events(on_push)
        .with_command_events(on_command)
        .with_interaction_events(on_interaction);
    let listener = SlackClientSocketModeListener::new(&config, environment, callbacks);
    listener
        .listen_for(&app_token)
        .await
        .map_err(SlackError::Api)?;
    listener.start().await;
    shutdown.await;
    listener.shutdown().await;
    Ok(())
}

async fn bot_of(state: &SlackClientEventsUserState) -> Option<Arc<SlackBot>> {
    state
        .read()
        .await
        .get_user_state::<Arc<SlackBot>>()
        .cloned()
}

async fn on_push(
    event: SlackPushEventCallback,
    _client: Arc<Client>,
    state: SlackClientEventsUserState,
) -> UserCallbackResult<()> {
    if let Some(bot) = bot_of(&state).await {
        bot.on_push(event).await;
    }
    Ok(())
}

async fn on_command(
    event: SlackCommandEvent,
    _client: Arc<Client>,
    state: SlackClientEventsUserState,
) -> UserCallbackResult<SlackCommandEventResponse> {
    Ok(match bot_of(&state).await {
        Some(bot) => bot.on_command(event).await,
        None => SlackCommandEventResponse::new(SlackMessageContent::new()),
    })
}

async fn on_interaction(
    event: SlackInteractionEvent,
    _client: Arc<Client>,
    state: SlackClientEventsUserState,
) -> UserCallbackResult<()> {
    if let (SlackInteractionEvent::BlockActions(actions), Some(bot)) = (event, bot_of(&state).await)
    {
        bot.on_block_actions(actions).await;
    }
    Ok(())
}

/// Envelopes slack-morphism could not parse land here (it acks them anyway),
/// and so does a link that broke (slack-morphism opens a new one right after).
fn on_error(
    error: Box<dyn std::error::Error + Send + Sync>,
    _client: Arc<Client>,
    _state: SlackClientEventsUserState,
) -> HttpStatusCode {
    match error.downcast_ref::<SlackClientError>() {
        Some(SlackClientError::SocketModeProtocolError(broken))
            if broken.message.starts_with("Slack WSS error") =>
        {
            warn!(error = %broken.message, "Socket Mode: the link to Slack broke; opening a new one");
        }
        _ => warn!(error = %error, "Socket Mode: an envelope rushbox cannot read"),
    }
    HttpStatusCode::OK
}
