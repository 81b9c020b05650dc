//! The Events API over HTTP: an axum [`Router`] the binary mounts on its own
//! server. Every request must carry Slack's v0 signature (HMAC-SHA256 of
//! `v0:{timestamp}:{body}` with the signing secret, compared in constant
//! time) and a timestamp within five minutes; anything else is rejected
//! before it is parsed. Rejections are logged by reason only: neither the
//! secret nor any signature is ever written anywhere.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Form, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;
use slack_morphism::prelude::*;
use tracing::warn;

use crate::adapter::SlackBot;

/// How far a request's timestamp may be from now, as Slack recommends.
const MAX_SKEW_SECONDS: u64 = 5 * 60;
/// Slack's payloads are small; anything bigger is not from Slack.
const MAX_BODY_BYTES: usize = 1 << 20;

/// Why a request was turned away, in words safe to log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    MissingHeaders,
    StaleTimestamp,
    BadSignature,
    TooLarge,
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Rejection::MissingHeaders => "no Slack signature or timestamp headers",
            Rejection::StaleTimestamp => "timestamp more than 5 minutes from now (replay?)",
            Rejection::BadSignature => "signature does not match the signing secret",
            Rejection::TooLarge => "body too large for a Slack request",
        })
    }
}

/// Checks Slack's v0 request signature.
#[derive(Clone)]
pub struct SignatureCheck {
    secret: Vec<u8>,
}

impl std::fmt::Debug for SignatureCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SignatureCheck(…)")
    }
}

impl SignatureCheck {
    pub fn new(signing_secret: &str) -> SignatureCheck {
        SignatureCheck {
            secret: signing_secret.as_bytes().to_vec(),
        }
    }

    /// Accepts a request whose headers sign `body` at a time near `now` (Unix seconds).
    pub fn verify(&self, headers: &HeaderMap, body: &[u8], now: u64) -> Result<(), Rejection> {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let (Some(timestamp), Some(signature)) = (
            header("x-slack-request-timestamp"),
            header("x-slack-signature"),
        ) else {
            return Err(Rejection::MissingHeaders);
        };
        let at: u64 = timestamp
            .trim()
            .parse()
            .map_err(|_| Rejection::StaleTimestamp)?;
        if at.abs_diff(now) > MAX_SKEW_SECONDS {
            return Err(Rejection::StaleTimestamp);
        }
        let given = signature
            .strip_prefix("v0=")
            .and_then(hex)
            .ok_or(Rejection::BadSignature)?;
        let mut mac = self.mac().ok_or(Rejection::BadSignature)?;
        mac.update(b"v0:");
        mac.update(timestamp.as_bytes());
        mac.update(b":");
        mac.update(body);
        // verify_slice compares in constant time.
        mac.verify_slice(&given)
            .map_err(|_| Rejection::BadSignature)
    }

    /// The `x-slack-signature` value for a body (what Slack sends; tests sign with it).
    pub fn sign(&self, timestamp: u64, body: &[u8]) -> String {
        let Some(mut mac) = self.mac() else {
            return "v0=".to_owned();
        };
        mac.update(format!("v0:{timestamp}:").as_bytes());
        mac.update(body);
        let bytes = mac.finalize().into_bytes();
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        format!("v0={hex}")
    }

    /// HMAC takes keys of any length, so this is always `Some` in practice.
    fn mac(&self) -> Option<Hmac<Sha256>> {
        Hmac::<Sha256>::new_from_slice(&self.secret).ok()
    }
}

fn hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[derive(Clone)]
struct Shared {
    bot: Arc<SlackBot>,
    check: SignatureCheck,
}

/// The routes Slack calls, relative to where the binary mounts them:
/// `POST /events` (Event Subscriptions), `POST /commands` (`/rushbox`) and
/// `POST /actions` (Interactivity). Rejections are logged by reason.
pub fn router(bot: Arc<SlackBot>, signing_secret: &str) -> Router {
    let shared = Shared {
        bot,
        check: SignatureCheck::new(signing_secret),
    };
    Router::new()
        .route("/events", post(events))
        .route("/commands", post(commands))
        .route("/actions", post(actions))
        .layer(middleware::from_fn_with_state(
            shared.clone(),
            signed_by_slack,
        ))
        .with_state(shared)
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Lets a request through only if Slack signed it; says why not otherwise.
async fn signed_by_slack(State(shared): State<Shared>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let verdict = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(bytes) => shared
            .check
            .verify(&parts.headers, &bytes, now())
            .map(|()| bytes),
        Err(_) => Err(Rejection::TooLarge),
    };
    match verdict {
        Ok(bytes) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Err(why) => {
            // Mounted under a prefix (`/slack`), the full path is the original URI's.
            let path = parts
                .extensions
                .get::<axum::extract::OriginalUri>()
                .map_or(parts.uri.path(), |original| original.path());
            warn!(path = %path, reason = %why, "rejected a request");
            (StatusCode::UNAUTHORIZED, why.to_string()).into_response()
        }
    }
}

async fn events(State(shared): State<Shared>, body: Bytes) -> Response {
    match serde_json::from_slice::<SlackPushEvent>(&body) {
        Ok(SlackPushEvent::UrlVerification(check)) => check.challenge.into_response(),
        Ok(SlackPushEvent::EventCallback(event)) => {
            // The 200 goes once the decision is on disk (milliseconds, well
            // within Slack's 3 s): a crash before it leaves Slack to retry,
            // and a retry of what was decided is dropped by its event id.
            shared.bot.on_push(event).await;
            StatusCode::OK.into_response()
        }
        Ok(SlackPushEvent::AppRateLimited(_)) => {
            warn!("Slack says this app is rate limited");
            StatusCode::OK.into_response()
        }
        Err(error) => {
            warn!(error = %error, "an event rushbox cannot read");
            StatusCode::OK.into_response()
        }
    }
}

async fn commands(
    State(shared): State<Shared>,
    Form(command): Form<SlackCommandEvent>,
) -> Response {
    axum::Json(shared.bot.on_command(command).await).into_response()
}

#[derive(Deserialize)]
struct InteractionForm {
    payload: String,
}

async fn actions(State(shared): State<Shared>, Form(form): Form<InteractionForm>) -> Response {
    match serde_json::from_str::<SlackInteractionEvent>(&form.payload) {
        Ok(SlackInteractionEvent::BlockActions(actions)) => {
            shared.bot.on_block_actions(actions).await;
        }
        Ok(_) => {}
        Err(error) => {
            warn!(error = %error, "an interaction rushbox cannot read");
        }
    }
    StatusCode::OK.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(timestamp: &str, signature: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-slack-request-timestamp", timestamp.parse().unwrap());
        h.insert("x-slack-signature", signature.parse().unwrap());
        h
    }

    // Slack's own worked example (api.slack.com/authentication/verifying-requests-from-slack).
    #[test]
    fn slacks_documented_example_verifies() {
        let check = SignatureCheck::new("8f742231b10e8888abcd99yyyzzz85a5");
        let body = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
        let signature = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
        let h = headers("1531420618", signature);
        assert_eq!(check.verify(&h, body, 1531420618 + 10), Ok(()));
        assert_eq!(check.sign(1531420618, body), signature);
        assert_eq!(
            check.verify(&h, body, 1531420618 + 301),
            Err(Rejection::StaleTimestamp)
        );
        assert_eq!(
            check.verify(&h, b"token=other", 1531420618),
            Err(Rejection::BadSignature)
        );
        assert_eq!(
            check.verify(&HeaderMap::new(), body, 1531420618),
            Err(Rejection::MissingHeaders)
        );
        let h = headers("1531420618", "v0=zz");
        assert_eq!(
            check.verify(&h, body, 1531420618),
            Err(Rejection::BadSignature)
        );
    }
}
