//! The adapter core: Slack events in, the Robot's answers out. Transport-free:
//! Socket Mode and the Events API both hand their parsed events to
//! [`SlackBot`], which decides whether an event is addressed to rushbox,
//! runs it once (redeliveries are dropped) and posts, edits and DMs replies.
//! Failures are logged with `tracing`, by kind and Slack's error code, never
//! with a token. [`SlackBot::activity`] counts what it has finished with.

pub mod groups;
pub mod names;

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rushbox_chat::{Actor, Answer, Incoming, Notice, NoticeFeed, ProgressFeed, Reply, Robot, Tone};
use slack_morphism::errors::SlackClientError;
use slack_morphism::prelude::*;
use tokio::time::Instant;
use tracing::{debug, error, info, warn};

use crate::render::{self, ACTION_PREFIX};
use groups::NamedGroup;
use names::DisplayNames;
use rushbox_chat::activity::Activity;

/// Calls the Web API as the bot, waiting out `429 Retry-After` a few times.
macro_rules! retrying {
    ($bot:expr, |$session:ident| $call:expr) => {{
        let mut attempt = 1;
        loop {
            let $session = $bot.client.open_session(&$bot.token);
            match $call.await {
                Err(SlackClientError::RateLimitError(limit)) if attempt < ATTEMPTS => {
                    let wait = limit.retry_after.unwrap_or(Duration::from_secs(1));
                    tokio::time::sleep(wait.min(Duration::from_secs(60))).await;
                    attempt += 1;
                }
                other => break other,
            }
        }
    }};
}

/// The Slack client every transport shares.
pub type Client = SlackClient<SlackClientHyperHttpsConnector>;

/// How many delivery ids are remembered to drop redeliveries (Slack retries
/// within minutes, so a few thousand is plenty).
const SEEN_CAPACITY: usize = 4096;
/// How often a rate-limited call is tried before it is given up.
const ATTEMPTS: u32 = 4;
/// How long a command waits for its asker's display name before it runs
/// with the user id as the name.
pub const NAME_LOOKUP_TIMEOUT: Duration = Duration::from_secs(2);

/// Who rushbox is in this workspace, from `auth.test`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BotIdentity {
    pub user_id: String,
    pub team_id: String,
    pub bot_id: Option<String>,
}

/// rushbox in one Slack workspace.
pub struct SlackBot {
    client: Arc<Client>,
    token: SlackApiToken,
    robot: Robot,
    me: BotIdentity,
    seen: Mutex<Seen>,
    names: Mutex<DisplayNames>,
    group_failures: Mutex<groups::Failures>,
    /// At most one `chat.update` per message per this long (the last one always goes).
    edit_interval: Duration,
    activity: Activity,
}

/// Delivery ids already handled, oldest first out.
#[derive(Default)]
struct Seen {
    ids: HashSet<String>,
    order: VecDeque<String>,
}

impl Seen {
    fn first_time(&mut self, id: &str) -> bool {
        if self.ids.contains(id) {
            return false;
        }
        if self.order.len() >= SEEN_CAPACITY
            && let Some(old) = self.order.pop_front()
        {
            self.ids.remove(&old);
        }
        self.ids.insert(id.to_owned());
        self.order.push_back(id.to_owned());
        true
    }
}

impl SlackBot {
    /// Asks Slack who the bot token belongs to (`auth.test`), so mentions of
    /// rushbox itself can be stripped and its own messages ignored.
    pub async fn connect(
        client: Arc<Client>,
        bot_token: SlackApiToken,
        robot: Robot,
    ) -> Result<SlackBot, SlackClientError> {
        let auth = client.open_session(&bot_token).auth_test().await?;
        let me = BotIdentity {
            user_id: auth.user_id.0,
            team_id: auth.team_id.0,
            bot_id: auth.bot_id.map(|b| b.0),
        };
        Ok(SlackBot {
            client,
            token: bot_token,
            robot,
            me,
            seen: Mutex::new(Seen::default()),
            names: Mutex::new(DisplayNames::default()),
            group_failures: Mutex::new(groups::Failures::default()),
            edit_interval: Duration::from_secs(1),
            activity: Activity::new(),
        })
    }

    /// Changes how often a progress message may be edited (tests use less).
    pub fn with_edit_interval(mut self, interval: Duration) -> SlackBot {
        self.edit_interval = interval;
        self
    }

    /// What the bot has finished with: events handled, work under way.
    pub fn activity(&self) -> &Activity {
        &self.activity
    }

    pub fn identity(&self) -> &BotIdentity {
        &self.me
    }

    pub fn client(&self) -> &Arc<Client> {
        &self.client
    }

    /// True the first time a delivery id is seen; false for a redelivery.
    pub fn first_delivery(&self, id: &str) -> bool {
        // A panic elsewhere poisoned the set: better to run twice than never.
        let first = lock(&self.seen).first_time(id);
        if !first {
            debug!(delivery = %id, "dropped a redelivery");
        }
        first
    }

    /// The person behind a Slack user id, named as the workspace shows them
    /// (see [`SlackBot::display_name`]).
    pub async fn actor(&self, team: &str, user: &str) -> Actor {
        Actor::new(
            &format!("slack:{team}"),
            user,
            &self.display_name(user).await,
        )
    }

    /// The name `user` goes by in the workspace: asked of `users.info` the
    /// first time, then remembered for an hour. Never fails and never waits
    /// more than [`NAME_LOOKUP_TIMEOUT`]: without an answer the id is the
    /// name for a few minutes, and an outage is logged once.
    pub async fn display_name(&self, user: &str) -> String {
        if let Some(name) = lock(&self.names).get(user, std::time::Instant::now()) {
            return name.to_owned();
        }
        let request = SlackApiUsersInfoRequest::new(SlackUserId(user.to_owned()));
        let session = self.client.open_session(&self.token);
        let answer = tokio::time::timeout(NAME_LOOKUP_TIMEOUT, session.users_info(&request)).await;
        let now = std::time::Instant::now();
        let failure = match answer {
            Ok(Ok(info)) => {
                lock(&self.names).looked_up(user, names::name_of(&info.user), now);
                None
            }
            Ok(Err(error)) => Some(api_failure(&error, "users:read")),
            Err(_) => Some(format!(
                "no answer within {} s",
                NAME_LOOKUP_TIMEOUT.as_secs()
            )),
        };
        if let Some(why) = failure
            && lock(&self.names).failed(user, now)
        {
            warn!(
                error = %why,
                "could not look up a display name with users.info; people are shown by user id until it works again"
            );
        }
        lock(&self.names)
            .get(user, now)
            .map_or_else(|| user.to_owned(), str::to_owned)
    }

    /// Asks Slack who is in each user group that roles name and tells the
    /// Robot. A group Slack does not answer for keeps its previous members,
    /// and the log says why (once per reason).
    pub async fn refresh_groups(&self) {
        for group in groups::slack_groups(&self.robot.group_names()) {
            match group {
                Ok(group) => self.refresh_group(&group).await,
                Err(name) => self.group_failed(
                    &name,
                    "roles name it, but a Slack group is named by its user group id, \
                     like `group:slack:S0LEADS`",
                ),
            }
        }
    }

    /// Refreshes the groups now and then every [`groups::REFRESH_INTERVAL`], until dropped.
    pub async fn keep_groups_fresh(self: Arc<Self>) {
        let mut every = tokio::time::interval(groups::REFRESH_INTERVAL);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            self.refresh_groups().await;
        }
    }

    async fn refresh_group(&self, group: &NamedGroup) {
        let request = SlackApiUserGroupsUsersListRequest::new(SlackUserGroupId(group.id.clone()));
        match retrying!(self, |s| s.usergroups_users_list(&request)) {
            Ok(list) => {
                let platform = format!("slack:{}", self.me.team_id);
                let members: Vec<Actor> = list
                    .users
                    .iter()
                    .map(|user| Actor::new(&platform, &user.0, &user.0))
                    .collect();
                self.robot.set_group_members(&group.name, &members);
                if lock(&self.group_failures).read(&group.name) {
                    info!(group = %format!("group:{}", group.name), "read the members of a user group again");
                }
            }
            Err(error) => self.group_failed(
                &group.name,
                &format!(
                    "usergroups.users.list failed ({}); its members are still those last read, if any",
                    api_failure(&error, "usergroups:read")
                ),
            ),
        }
    }

    fn group_failed(&self, name: &str, why: &str) {
        if lock(&self.group_failures).failed(name, why) {
            warn!(group = %format!("group:{name}"), problem = why, "roles name a user group rushbox can't read");
        }
    }

    /// A push event (mention or DM): what to run, if it is for rushbox and new.
    pub fn incoming_from_push(&self, event: &SlackPushEventCallback) -> Option<Incoming> {
        if !self.first_delivery(&format!("event:{}", event.event_id.0)) {
            return None;
        }
        let team = &event.team_id.0;
        match &event.event {
            SlackEventCallbackBody::AppMention(mention) => {
                if mention.user.0 == self.me.user_id || mention.edited.is_some() {
                    return None;
                }
                let text = mention.content.text.as_deref().unwrap_or("");
                let text = self.strip_own_mention(text);
                let thread = mention
                    .origin
                    .thread_ts
                    .clone()
                    .unwrap_or_else(|| mention.origin.ts.clone());
                Some(self.incoming(
                    team,
                    &mention.user.0,
                    &mention.channel.0,
                    text,
                    Some(thread.0),
                ))
            }
            SlackEventCallbackBody::Message(message) => {
                let direct = message
                    .origin
                    .channel_type
                    .as_ref()
                    .is_some_and(|t| t.0 == "im");
                let from_a_person = message.subtype.is_none()
                    && message.sender.bot_id.is_none()
                    && message.message.is_none();
                let user = message.sender.user.as_ref()?;
                if !direct || !from_a_person || user.0 == self.me.user_id {
                    return None;
                }
                let channel = message.origin.channel.as_ref()?;
                let text = message
                    .content
                    .as_ref()
                    .and_then(|c| c.text.as_deref())
                    .unwrap_or("");
                let text = self.strip_own_mention(text);
                let thread = message.origin.thread_ts.clone().map(|t| t.0);
                Some(self.incoming(team, &user.0, &channel.0, text, thread))
            }
            _ => None,
        }
    }

    /// `/rushbox <text>`: what to run, once per trigger.
    pub fn incoming_from_command(&self, command: &SlackCommandEvent) -> Option<Incoming> {
        if !self.first_delivery(&format!("command:{}", command.trigger_id.0)) {
            return None;
        }
        let text = plain_text(command.text.as_deref().unwrap_or(""));
        Some(self.incoming(
            &command.team_id.0,
            &command.user_id.0,
            &command.channel_id.0,
            text.trim().to_owned(),
            None,
        ))
    }

    fn incoming(
        &self,
        team: &str,
        user: &str,
        channel: &str,
        text: String,
        reply_to: Option<String>,
    ) -> Incoming {
        Incoming {
            actor: Actor::new(&format!("slack:{team}"), user, user),
            channel: channel.to_owned(),
            text,
            reply_to,
        }
    }

    /// The text as the person typed it, without the mention of rushbox itself.
    fn strip_own_mention(&self, text: &str) -> String {
        plain_text(text)
            .replace(&format!("<@{}>", self.me.user_id), " ")
            .trim()
            .to_owned()
    }

    /// Decides a push event if it is a new message for rushbox, and returns
    /// once the decision is on disk (so an ack after it means "decided"); the
    /// answer goes out in the background. Reads a user group again when Slack
    /// says it changed and roles name it.
    pub async fn on_push(self: &Arc<Self>, event: SlackPushEventCallback) {
        let handling = self.activity.event();
        if let Some(id) = groups::changed_group(&event.event) {
            let name = format!("slack:{id}");
            if self.first_delivery(&format!("event:{}", event.event_id.0))
                && self.robot.group_names().contains(&name)
            {
                // Read before the ack, so what follows on this link sees it.
                self.refresh_group(&NamedGroup { name, id }).await;
            }
            return;
        }
        if let Some(incoming) = self.incoming_from_push(&event) {
            let delivery = format!("slack:event:{}", event.event_id.0);
            if let Some((incoming, answer)) = self.decide(incoming, Some(&delivery)).await {
                let bot = self.clone();
                tokio::spawn(async move {
                    bot.deliver(&incoming, answer, None).await;
                    drop(handling);
                });
            }
        }
    }

    /// Decides a slash command, then returns the immediate ack (an echo of
    /// what was typed); the answer follows in the background.
    pub async fn on_command(
        self: &Arc<Self>,
        command: SlackCommandEvent,
    ) -> SlackCommandEventResponse {
        let handling = self.activity.event();
        let Some(incoming) = self.incoming_from_command(&command) else {
            return SlackCommandEventResponse::new(SlackMessageContent::new());
        };
        let echo = format!("`/rushbox {}`", render::escape(&incoming.text));
        let delivery = format!("slack:command:{}", command.trigger_id.0);
        let Some((incoming, answer)) = self.decide(incoming, Some(&delivery)).await else {
            return SlackCommandEventResponse::new(SlackMessageContent::new());
        };
        let bot = self.clone();
        let response_url = command.response_url.clone();
        tokio::spawn(async move {
            bot.deliver(&incoming, answer, Some(response_url)).await;
            drop(handling);
        });
        SlackCommandEventResponse::new(SlackMessageContent::new().with_text(echo))
            .with_response_type(SlackMessageResponseType::InChannel)
    }

    /// A button click: runs the command as the person who clicked, checked
    /// exactly as if typed. Granted, the clicked message says who chose what
    /// and loses its buttons (nobody runs it twice), and the answer goes in
    /// the message's thread for everyone. Refused (or failed), only the
    /// clicker is told why, and the message keeps its buttons for whoever
    /// may click them.
    pub async fn on_block_actions(self: &Arc<Self>, event: SlackInteractionBlockActionsEvent) {
        let handling = self.activity.event();
        let Some(user) = &event.user else { return };
        let Some(action) = event
            .actions
            .iter()
            .flatten()
            .find(|a| a.action_id.0.starts_with(ACTION_PREFIX))
        else {
            return;
        };
        let Some(command) = action.value.clone() else {
            return;
        };
        let SlackInteractionActionContainer::Message(container) = &event.container else {
            return;
        };
        let click = format!(
            "click:{}:{}:{}",
            container.message_ts.0,
            user.id.0,
            action.action_ts.as_ref().map_or("", |t| t.0.as_str())
        );
        if !self.first_delivery(&click) {
            return;
        }
        let Some(channel) = container
            .channel_id
            .clone()
            .or_else(|| event.channel.as_ref().map(|c| c.id.clone()))
        else {
            return;
        };
        let team = user
            .team_id
            .as_ref()
            .map_or(event.team.id.0.as_str(), |t| t.0.as_str());
        // The thread the clicked message is in, if it is in one.
        let its_thread = event
            .message
            .as_ref()
            .and_then(|m| m.origin.thread_ts.clone());
        let thread = its_thread
            .clone()
            .unwrap_or_else(|| container.message_ts.clone());
        let incoming = self.incoming(
            team,
            &user.id.0,
            &channel.0,
            command,
            Some(thread.0.clone()),
        );
        let delivery = format!("slack:{click}");
        let Some((incoming, answer)) = self.decide(incoming, Some(&delivery)).await else {
            return;
        };
        let bot = self.clone();
        if !granted(&answer.reply) {
            let clicker = user.id.clone();
            tokio::spawn(async move {
                bot.tell_only(&channel, &clicker, its_thread, &answer.reply)
                    .await;
                for feed in answer.progress {
                    bot.clone()
                        .spawn_follow(feed, channel.clone(), Some(thread.clone()));
                }
                drop(handling);
            });
            return;
        }
        // An ephemeral message (a refusal's own buttons) can't be updated; it stays.
        let update = (container.is_ephemeral != Some(true)).then(|| {
            chosen(
                &event,
                &channel,
                &container.message_ts,
                &user.id,
                &incoming.text,
            )
        });
        tokio::spawn(async move {
            if let Some(update) = update
                && let Err(error) = retrying!(bot, |s| s.chat_update(&update))
            {
                warn!(error = %error, "could not mark the clicked message");
            }
            bot.deliver(&incoming, answer, None).await;
            drop(handling);
        });
    }

    /// A reply only `user` sees (`chat.postEphemeral`), in `thread` if given.
    async fn tell_only(
        &self,
        channel: &SlackChannelId,
        user: &SlackUserId,
        thread: Option<SlackTs>,
        reply: &Reply,
    ) {
        let mut request = SlackApiChatPostEphemeralRequest::new(
            channel.clone(),
            user.clone(),
            render::render(reply),
        );
        request.thread_ts = thread;
        if let Err(error) = retrying!(self, |s| s.chat_post_ephemeral(&request)) {
            warn!(channel = %channel.0, error = %error, "could not answer a click");
        }
    }

    /// Hands one message to the Robot, its asker named as the workspace
    /// shows them, and delivers everything it answers.
    pub async fn run(self: &Arc<Self>, incoming: Incoming) {
        let _handling = self.activity.event();
        if let Some((incoming, answer)) = self.decide(incoming, None).await {
            self.deliver(&incoming, answer, None).await;
        }
    }

    /// What the Robot answers `incoming`, once its decision is durable.
    /// With a `delivery` (Slack's id for the event, command or click), one
    /// that was decided before, in this run or an earlier one, gives `None`.
    async fn decide(
        self: &Arc<Self>,
        mut incoming: Incoming,
        delivery: Option<&str>,
    ) -> Option<(Incoming, Answer)> {
        incoming.actor.display_name = self.display_name(&incoming.actor.user_id).await;
        let robot = self.robot.clone();
        let asked = incoming.clone();
        let id = delivery.map(str::to_owned);
        let handled = tokio::task::spawn_blocking(move || match id {
            Some(id) => robot.handle_delivery(&asked, &id),
            None => Some(robot.handle(&asked)),
        })
        .await;
        match handled {
            Ok(Some(answer)) => Some((incoming, answer)),
            Ok(None) => {
                debug!(delivery = %delivery.unwrap_or_default(), "dropped a redelivery");
                None
            }
            Err(error) => {
                error!(error = %error, "the robot failed on a message");
                None
            }
        }
    }

    async fn deliver(
        self: &Arc<Self>,
        incoming: &Incoming,
        answer: Answer,
        response_url: Option<SlackResponseUrl>,
    ) {
        let channel = SlackChannelId(incoming.channel.clone());
        let thread = incoming.reply_to.clone().map(SlackTs);
        if let Err(error) = self.post(&channel, thread.clone(), &answer.reply).await {
            match response_url {
                Some(url) => self.respond_privately(&url, &answer.reply).await,
                None => warn!(channel = %channel.0, error = %error, "could not answer"),
            }
            // Progress could not be posted there either; `status <env>` shows it.
            if !answer.progress.is_empty() {
                warn!(channel = %channel.0, error = %error, "progress not shown");
            }
        }
        for feed in answer.progress {
            self.clone()
                .spawn_follow(feed, channel.clone(), thread.clone());
        }
    }

    /// [`SlackBot::follow`] in a task of its own, counted as work under way.
    fn spawn_follow(
        self: Arc<Self>,
        feed: ProgressFeed,
        channel: SlackChannelId,
        thread: Option<SlackTs>,
    ) {
        let following = self.activity.task();
        tokio::spawn(async move {
            self.follow(feed, channel, thread).await;
            drop(following);
        });
    }

    async fn post(
        &self,
        channel: &SlackChannelId,
        thread: Option<SlackTs>,
        reply: &Reply,
    ) -> Result<SlackTs, SlackClientError> {
        let mut request =
            SlackApiChatPostMessageRequest::new(channel.clone(), render::render(reply));
        request.thread_ts = thread;
        let posted = retrying!(self, |s| s.chat_post_message(&request))?;
        Ok(posted.ts)
    }

    async fn edit(
        &self,
        channel: &SlackChannelId,
        ts: &SlackTs,
        reply: &Reply,
    ) -> Result<(), SlackClientError> {
        // `blocks` is always sent, so the old buttons go when the new version has none.
        let request =
            SlackApiChatUpdateRequest::new(channel.clone(), render::render(reply), ts.clone());
        retrying!(self, |s| s.chat_update(&request)).map(|_| ())
    }

    /// One operation's progress as one message: posted with its first
    /// version, then edited at most once per `edit_interval`, and always with
    /// its final version.
    async fn follow(
        self: Arc<Self>,
        mut feed: ProgressFeed,
        channel: SlackChannelId,
        thread: Option<SlackTs>,
    ) {
        let Some(first) = feed.next().await else {
            return;
        };
        let ts = match self.post(&channel, thread, &first).await {
            Ok(ts) => ts,
            Err(error) => {
                warn!(channel = %channel.0, error = %error, "could not post a progress message");
                return;
            }
        };
        let mut last_edit = Instant::now();
        let mut pending: Option<Reply> = None;
        loop {
            if feed.is_done() {
                break;
            }
            let due = last_edit + self.edit_interval;
            tokio::select! {
                next = feed.next() => match next {
                    Some(version) => pending = Some(version),
                    None => break,
                },
                _ = tokio::time::sleep_until(due), if pending.is_some() => {
                    if let Some(version) = pending.take()
                        && let Err(error) = self.edit(&channel, &ts, &version).await
                    {
                        warn!(error = %error, "could not update a progress message");
                    }
                    last_edit = Instant::now();
                }
            }
        }
        if let Some(last) = pending.take()
            && let Err(error) = self.edit(&channel, &ts, &last).await
        {
            warn!(error = %error, "could not post the end of an operation");
        }
    }

    /// Answers only the person who typed the command, with a hint to invite rushbox.
    async fn respond_privately(&self, url: &SlackResponseUrl, reply: &Reply) {
        let mut content = render::render(reply);
        let hint = SlackContextBlock::new(vec![SlackContextBlockElement::MarkDown(
            SlackBlockMarkDownText::new(
                "Only you can see this: rushbox is not in this channel. `/invite @rushbox` lets everyone follow along."
                    .to_owned(),
            ),
        )]);
        if let Some(blocks) = content.blocks.as_mut() {
            blocks.push(hint.into());
        }
        let request = SlackApiPostWebhookMessageRequest::new(content);
        if let Err(error) = self.client.respond_to_event(url, &request).await {
            warn!(error = %error, "could not answer through the response URL either");
        }
    }

    /// A notice by DM, if it is for someone in this workspace.
    pub async fn notify(&self, notice: Notice) {
        let Some(user) = self.slack_user(notice.to.as_str()) else {
            return;
        };
        let open = SlackApiConversationsOpenRequest::new().with_users(vec![SlackUserId(user)]);
        let channel = match retrying!(self, |s| s.conversations_open(&open)) {
            Ok(opened) => opened.channel.id,
            Err(error) => {
                warn!(error = %error, "could not open a DM for a notice");
                return;
            }
        };
        if let Err(error) = self.post(&channel, None, &notice.reply).await {
            warn!(error = %error, "could not deliver a notice");
        }
    }

    /// Delivers every notice (those of a message and those decided by the
    /// clock) by DM until the feed ends: the feed is their one channel.
    pub async fn deliver_notices(self: Arc<Self>, mut feed: NoticeFeed) {
        while let Some(notice) = feed.next().await {
            let bot = self.clone();
            let sending = self.activity.task();
            tokio::spawn(async move {
                bot.notify(notice).await;
                drop(sending);
            });
        }
    }

    /// `slack:T1:U1` → `U1` when T1 is this workspace.
    fn slack_user(&self, actor: &str) -> Option<String> {
        let rest = actor.strip_prefix("slack:")?;
        let (team, user) = rest.split_once(':')?;
        (team == self.me.team_id).then(|| user.to_owned())
    }
}

/// Whether the Robot did (or answered) what was asked, rather than refusing
/// or failing: only then does a click change the message for everyone.
fn granted(reply: &Reply) -> bool {
    !matches!(reply.tone, Tone::Refused | Tone::Error)
}

/// The clicked message as it was, without its buttons, and a line saying
/// who chose which command.
fn chosen(
    event: &SlackInteractionBlockActionsEvent,
    channel: &SlackChannelId,
    ts: &SlackTs,
    user: &SlackUserId,
    command: &str,
) -> SlackApiChatUpdateRequest {
    let said = format!("<@{}> chose `{}`", user.0, render::escape(command));
    let mut blocks: Vec<SlackBlock> = event
        .message
        .as_ref()
        .and_then(|m| m.content.blocks.clone())
        .unwrap_or_default()
        .into_iter()
        .filter(|b| !matches!(b, SlackBlock::Actions(_)))
        .collect();
    blocks.push(
        SlackContextBlock::new(vec![SlackContextBlockElement::MarkDown(
            SlackBlockMarkDownText::new(said.clone()),
        )])
        .into(),
    );
    let text = event
        .message
        .as_ref()
        .and_then(|m| m.content.text.clone())
        .unwrap_or(said);
    SlackApiChatUpdateRequest::new(
        channel.clone(),
        SlackMessageContent::new()
            .with_text(text)
            .with_blocks(blocks),
        ts.clone(),
    )
}

/// A panic elsewhere poisoned the lock: what it guards (names to show, what
/// was logged) is still good enough, keep going.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A failed Web API call in a log line: Slack's error code (not the whole
/// response), with what to do when the app lacks `scope`.
pub(crate) fn api_failure(error: &SlackClientError, scope: &str) -> String {
    match error {
        SlackClientError::ApiError(api) if api.code == "missing_scope" => format!(
            "Slack answered `missing_scope`: add the bot scope `{scope}` to the app \
             (config/slack-manifest.yml has it) and reinstall it to the workspace"
        ),
        SlackClientError::ApiError(api) => format!("Slack answered `{}`", api.code),
        other => other.to_string(),
    }
}

/// Slack's wire text back to what was typed: mentions as `<@U123>` (slash
/// commands send `<@U123|name>`), and `&amp;`, `&lt;`, `&gt;` unescaped.
pub fn plain_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("<@") {
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        match tail.find('>') {
            Some(end) => {
                let inner = &tail[2..end];
                let id = inner.split('|').next().unwrap_or(inner);
                out.push_str("<@");
                out.push_str(id);
                out.push('>');
                rest = &tail[end + 1..];
            }
            None => {
                out.push_str(tail);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_text_becomes_what_was_typed() {
        let cases = [
            ("give dev-foo to <@U2|bob>", "give dev-foo to <@U2>"),
            (
                "<@UBOT> lock staging for QA &amp; fixes",
                "<@UBOT> lock staging for QA & fixes",
            ),
            ("deploy &lt;ref&gt;", "deploy <ref>"),
            ("broken <@U1", "broken <@U1"),
            ("plain", "plain"),
        ];
        for (wire, typed) in cases {
            assert_eq!(plain_text(wire), typed, "{wire}");
        }
    }

    #[test]
    fn redeliveries_are_seen_once_and_memory_is_bounded() {
        let mut seen = Seen::default();
        assert!(seen.first_time("Ev1"));
        assert!(!seen.first_time("Ev1"));
        for i in 0..SEEN_CAPACITY {
            seen.first_time(&format!("x{i}"));
        }
        assert_eq!(seen.ids.len(), SEEN_CAPACITY);
        assert!(seen.first_time("Ev1"), "the oldest id was forgotten");
    }
}
