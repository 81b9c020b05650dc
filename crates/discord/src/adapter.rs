//! The thin I/O shell: serenity's event handler. Each event becomes an
//! `Incoming`, the Robot answers on a blocking thread (it fsyncs), and the
//! answer is sent, then edited in place as its operation progresses. What a
//! member object or member event says about roles goes to the Robot's groups
//! first (see [`crate::groups`]). Failures are logged with `tracing`.

use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use rushbox_chat::{Answer, Incoming, Notice, ProgressFeed, Reply, Robot, Tone};
use serenity::all::{
    ChannelId, CommandInteraction, ComponentInteraction, Context, CreateAutocompleteResponse,
    CreateInteractionResponse, CreateInteractionResponseMessage, EditInteractionResponse,
    EventHandler, GatewayError, GatewayIntents, Guild, GuildId, GuildMemberUpdateEvent, Http,
    HttpBuilder, Interaction, Member, Message, MessageId, Ready, Role, RoleId, User, UserId,
};
use serenity::async_trait;
use tracing::{error, warn};

use crate::commands::{ENV_OPTIONS, REF_OPTIONS, command_text, definitions, suggestions};
use crate::config::DiscordConfig;
use crate::groups::{Memberships, discord_roles, group_name};
use crate::identity;
use crate::progress::coalesce;
use crate::render::{ButtonCommands, Rendered, render};
use rushbox_chat::activity::Activity;

/// At most one edit of a progress message per this long; the final version always goes out.
const EDIT_INTERVAL: Duration = Duration::from_secs(1);

/// What can stop the adapter.
#[derive(Debug)]
pub enum Error {
    /// The token's environment variable is unset or empty.
    MissingToken { var: String },
    /// Boxed: serenity's error is large, and `Result<_, Error>` is returned often.
    Discord(Box<serenity::Error>),
    /// No thread or runtime for a session could be made (the machine is out of them).
    Runtime(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::MissingToken { var } => write!(
                f,
                "no Discord bot token: set the environment variable {var} (Developer Portal → your app → Bot → Reset Token)"
            ),
            Error::Discord(e) => match e.as_ref() {
                serenity::Error::Gateway(
                    GatewayError::DisallowedGatewayIntents | GatewayError::InvalidGatewayIntents,
                ) => write!(
                    f,
                    "Discord refused the gateway intents ({e}): switch on Message Content Intent, \
                     and Server Members Intent if `[discord] members_intent = true`, under \
                     Developer Portal → your app → Bot → Privileged Gateway Intents"
                ),
                _ => write!(f, "Discord: {e}"),
            },
            Error::Runtime(why) => write!(f, "can't start a thread for the gateway: {why}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<serenity::Error> for Error {
    fn from(e: serenity::Error) -> Error {
        Error::Discord(Box::new(e))
    }
}

/// The gateway intents rushbox asks for. MESSAGE_CONTENT is privileged, and
/// so is GUILD_MEMBERS (with `members_intent`): switch them on in the
/// Developer Portal too.
pub fn intents(config: &DiscordConfig) -> GatewayIntents {
    let intents = GatewayIntents::GUILDS
        | GatewayIntents::GUILD_MESSAGES
        | GatewayIntents::DIRECT_MESSAGES
        | GatewayIntents::MESSAGE_CONTENT;
    match config.members_intent {
        true => intents | GatewayIntents::GUILD_MEMBERS,
        false => intents,
    }
}

/// Runs the bot until `shutdown` resolves, reading the token from the
/// environment variable named by `config.token_env`.
///
/// ```no_run
/// # async fn start(robot: rushbox_chat::Robot) -> Result<(), rushbox_discord::Error> {
/// let config = rushbox_discord::DiscordConfig {
///     guild_id: Some(81384788765712384),
///     ..Default::default()
/// };
/// let shutdown = async {
///     let _ = tokio::signal::ctrl_c().await;
/// };
/// rushbox_discord::run(config, robot, shutdown).await
/// # }
/// ```
pub async fn run(
    config: DiscordConfig,
    robot: Robot,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let token = token_from_env(&config)?;
    run_with_token(config, robot, &token, shutdown).await
}

/// The bot token from the environment variable `config.token_env`.
pub fn token_from_env(config: &DiscordConfig) -> Result<String, Error> {
    std::env::var(&config.token_env)
        .ok()
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| Error::MissingToken {
            var: config.token_env.clone(),
        })
}

/// Discord's REST client for `token`, through `config.api_proxy` if set.
fn rest_client(config: &DiscordConfig, token: &str) -> Http {
    let mut http = HttpBuilder::new(token.trim());
    if let Some(proxy) = &config.api_proxy {
        // Serenity applies the proxy only to requests that bypass its rate limiter.
        http = http
            .proxy(proxy.trim_end_matches('/'))
            .ratelimiter_disabled(true);
    }
    http.build()
}

/// Sends `notices` by DM over REST alone, no gateway needed: for what was
/// decided before the adapter runs (operations a restart cut short). Notices
/// for people on other platforms are skipped; a DM that fails is logged.
pub async fn notify(config: &DiscordConfig, token: &str, notices: &[Notice]) {
    let http = rest_client(config, token);
    let buttons = ButtonCommands::new();
    for notice in notices {
        dm(&http, notice, &buttons).await;
    }
}

/// [`run`] with the token given (tests, or a binary with its own secret store).
///
/// While Discord can't be reached it says so on standard error and tries
/// again, 5 s after the first failure, doubling up to every 5 minutes (see
/// [`crate::connection`]). When `shutdown` resolves it returns within a few
/// seconds, connected or not. A refused token or intents end it with the error.
pub async fn run_with_token(
    config: DiscordConfig,
    robot: Robot,
    token: &str,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    run_observed(config, robot, token, Activity::new(), shutdown).await
}

/// [`run_with_token`], counting in `activity` what it has finished with, so
/// that a caller (a test) can wait until it is quiet instead of sleeping.
pub async fn run_observed(
    config: DiscordConfig,
    robot: Robot,
    token: &str,
    activity: Activity,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    // Progress and notices go out over this client, on this runtime, so they
    // outlive a gateway session that is given up.
    let rest = Arc::new(rest_client(&config, token));
    let mut named = Vec::new();
    for role in discord_roles(&robot.group_names()) {
        match role {
            Ok(role) => named.push(role),
            Err(name) => warn!(
                group = %format!("group:{name}"),
                "roles name a Discord group that is no role id; name a role by its id, \
                 `group:discord:<role id>` (Server Settings → Roles → ⋯ → Copy Role ID)"
            ),
        }
    }
    let adapter = Adapter {
        robot: robot.clone(),
        config: config.clone(),
        buttons: Arc::new(ButtonCommands::new()),
        bot: Arc::new(OnceLock::new()),
        rest: rest.clone(),
        outer: tokio::runtime::Handle::current(),
        memberships: Arc::new(Mutex::new(Memberships::new(named))),
        activity: activity.clone(),
    };
    let notices = tokio::spawn(deliver_notices(robot, rest, activity.clone()));
    let base = config
        .api_proxy
        .as_deref()
        .map_or("https://discord.com", |p| p.trim_end_matches('/'));
    let result = crate::connection::stay_connected(
        base,
        token,
        intents(&config),
        || rest_client(&config, token),
        || adapter.clone(),
        &activity,
        shutdown,
    )
    .await;
    notices.abort();
    result
}

/// Notices the engine decides outside any one message, by DM to Discord users.
async fn deliver_notices(robot: Robot, http: Arc<Http>, activity: Activity) {
    let mut feed = robot.notices();
    let buttons = ButtonCommands::new();
    while let Some(notice) = feed.next().await {
        let _sending = activity.task();
        dm(&http, &notice, &buttons).await;
    }
}

async fn dm(http: &Http, notice: &Notice, buttons: &ButtonCommands) {
    let Some(user) = identity::user_of(notice.to.as_str()) else {
        return; // someone on another platform
    };
    let message = render(&notice.reply, buttons).message();
    if let Err(e) = user.direct_message(http, message).await {
        warn!(%user, error = %e, "could not send a notice by DM");
    }
}

/// A panic elsewhere poisoned the lock: the memberships are still what
/// Discord last said, keep going.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[derive(Clone)]
struct Adapter {
    robot: Robot,
    config: DiscordConfig,
    buttons: Arc<ButtonCommands>,
    /// Our own user id, known from READY.
    bot: Arc<OnceLock<UserId>>,
    /// REST on the caller's runtime, for work that outlives a gateway session.
    rest: Arc<Http>,
    /// The caller's runtime (events arrive on the session's own).
    outer: tokio::runtime::Handle,
    /// Who holds the Discord roles that `[roles]` names; kept across sessions.
    memberships: Arc<Mutex<Memberships>>,
    activity: Activity,
}

/// A message that progress edits in place.
#[derive(Clone)]
enum Target {
    Message(ChannelId, MessageId),
    Original(Box<CommandInteraction>),
    CommandFollowup(Box<CommandInteraction>, MessageId),
    ComponentFollowup(Box<ComponentInteraction>, MessageId),
}

impl Target {
    /// Where an interaction happened, for a message of our own when its token has run out.
    fn channel_of_interaction(&self) -> Option<ChannelId> {
        match self {
            Target::Message(..) => None,
            Target::Original(command) | Target::CommandFollowup(command, _) => {
                Some(command.channel_id)
            }
            Target::ComponentFollowup(component, _) => Some(component.channel_id),
        }
    }

    async fn edit(&self, http: &Http, rendered: &Rendered) -> Result<(), serenity::Error> {
        match self {
            Target::Message(channel, message) => channel
                .edit_message(http, *message, rendered.edit_message())
                .await
                .map(drop),
            Target::Original(command) => command
                .edit_response(http, rendered.edit_response())
                .await
                .map(drop),
            Target::CommandFollowup(command, message) => command
                .edit_followup(http, *message, rendered.followup())
                .await
                .map(drop),
            Target::ComponentFollowup(component, message) => component
                .edit_followup(http, *message, rendered.followup())
                .await
                .map(drop),
        }
    }
}

#[async_trait]
impl EventHandler for Adapter {
    async fn ready(&self, ctx: Context, ready: Ready) {
        let _ = self.bot.set(ready.user.id);
        // Interaction edits need it; serenity sets it only on the session's own client.
        self.rest.set_application_id(ready.application.id);
        let registered = match self.config.guild_id {
            Some(guild) if guild != 0 => GuildId::new(guild)
                .set_commands(&ctx.http, definitions())
                .await
                .map(drop),
            _ => serenity::all::Command::set_global_commands(&ctx.http, definitions())
                .await
                .map(drop),
        };
        if let Err(e) = registered {
            error!(error = %e, "could not register the slash commands");
        }
    }

    /// Who holds which roles, for a guild the bot joins or comes back to
    /// (every member with `members_intent` and a small guild, else a few).
    async fn guild_create(&self, _ctx: Context, guild: Guild, _is_new: Option<bool>) {
        let _handling = self.activity.event();
        for member in guild.members.values() {
            self.holds(guild.id, member.user.id, &member.roles);
        }
    }

    async fn guild_member_addition(&self, _ctx: Context, member: Member) {
        let _handling = self.activity.event();
        self.holds(member.guild_id, member.user.id, &member.roles);
    }

    async fn guild_member_update(
        &self,
        _ctx: Context,
        _old: Option<Member>,
        _new: Option<Member>,
        event: GuildMemberUpdateEvent,
    ) {
        let _handling = self.activity.event();
        self.holds(event.guild_id, event.user.id, &event.roles);
    }

    async fn guild_member_removal(
        &self,
        _ctx: Context,
        guild: GuildId,
        user: User,
        _member: Option<Member>,
    ) {
        let _handling = self.activity.event();
        let mut memberships = lock(&self.memberships);
        let changed = memberships.left((guild, user.id));
        self.report(&memberships, &changed);
    }

    async fn guild_role_delete(
        &self,
        _ctx: Context,
        _guild: GuildId,
        role: RoleId,
        _deleted: Option<Role>,
    ) {
        let _handling = self.activity.event();
        let mut memberships = lock(&self.memberships);
        if memberships.role_deleted(role) {
            self.report(&memberships, &[role]);
        }
    }

    async fn message(&self, ctx: Context, msg: Message) {
        let _handling = self.activity.event();
        let bot = self.bot.get().copied();
        if msg.author.bot || Some(msg.author.id) == bot {
            return;
        }
        // Before anything awaits: serenity runs each event in a task of its
        // own, and this keeps the roles Discord said in the order it said them.
        if let (Some(guild), Some(member)) = (msg.guild_id, &msg.member) {
            self.holds(guild, msg.author.id, &member.roles);
        }
        let dm = msg.guild_id.is_none();
        let Some(text) = crate::addressed::command_in(&msg.content, bot, &self.config.prefix, dm)
        else {
            return;
        };
        let incoming = self.incoming(
            msg.guild_id,
            &msg.author,
            msg.channel_id,
            text,
            Some(msg.id),
        );
        let Some(answer) = self.answer(incoming).await else {
            return;
        };
        let rendered = render(&answer.reply, &self.buttons);
        let sent = msg
            .channel_id
            .send_message(&ctx.http, rendered.message().reference_message(&msg))
            .await;
        let first = match sent {
            Ok(sent) => Some(Target::Message(msg.channel_id, sent.id)),
            Err(e) => {
                warn!(channel = %msg.channel_id, error = %e, "could not reply to a message");
                None
            }
        };
        self.after(&ctx, answer, first, |http, rendered| {
            let channel = msg.channel_id;
            async move {
                channel
                    .send_message(&http, rendered.message())
                    .await
                    .map(|m| Target::Message(channel, m.id))
            }
        })
        .await;
    }

    async fn interaction_create(&self, ctx: Context, interaction: Interaction) {
        let _handling = self.activity.event();
        // Before anything awaits (see `message`).
        let (guild, member) = match &interaction {
            Interaction::Command(i) | Interaction::Autocomplete(i) => {
                (i.guild_id, i.member.as_deref())
            }
            Interaction::Component(i) => (i.guild_id, i.member.as_ref()),
            _ => (None, None),
        };
        if let (Some(guild), Some(member)) = (guild, member) {
            self.holds(guild, member.user.id, &member.roles);
        }
        match interaction {
            Interaction::Command(command) => self.slash_command(&ctx, command).await,
            Interaction::Autocomplete(command) => self.autocomplete(&ctx, command).await,
            Interaction::Component(component) => self.button(&ctx, component).await,
            _ => {}
        }
    }
}

impl Adapter {
    /// `user` in `guild` holds `roles`, as Discord just said: the Robot's
    /// groups follow if that changes who holds a role that roles name.
    fn holds(&self, guild: GuildId, user: UserId, roles: &[RoleId]) {
        let mut memberships = lock(&self.memberships);
        if !memberships.is_needed() {
            return;
        }
        let changed = memberships.holds((guild, user), roles);
        self.report(&memberships, &changed);
    }

    /// Tells the Robot who holds each of `roles` now. Called with the
    /// memberships locked, so reports reach the Robot in the order Discord spoke.
    fn report(&self, memberships: &Memberships, roles: &[RoleId]) {
        for role in roles {
            let members: Vec<_> = memberships
                .holders(*role)
                .map(|(guild, user)| identity::member(guild, user))
                .collect();
            self.robot.set_group_members(&group_name(*role), &members);
        }
    }

    fn incoming(
        &self,
        guild: Option<GuildId>,
        user: &User,
        channel: ChannelId,
        text: String,
        reply_to: Option<MessageId>,
    ) -> Incoming {
        Incoming {
            actor: identity::actor(guild, user),
            channel: channel.to_string(),
            text,
            reply_to: reply_to.map(|m| m.to_string()),
        }
    }

    /// The Robot's answer, computed off the async threads.
    async fn answer(&self, incoming: Incoming) -> Option<Answer> {
        let robot = self.robot.clone();
        match tokio::task::spawn_blocking(move || robot.handle(&incoming)).await {
            Ok(answer) => Some(answer),
            Err(e) => {
                error!(error = %e, "the robot failed on a message");
                None
            }
        }
    }

    /// Progress: the first feed edits `first`, any other gets a new message from `post`.
    async fn after<F, Fut>(&self, ctx: &Context, answer: Answer, first: Option<Target>, post: F)
    where
        F: Fn(Arc<Http>, Rendered) -> Fut,
        Fut: Future<Output = Result<Target, serenity::Error>>,
    {
        // The engine also sends every notice to the feed that `run` delivers
        // by DM; sending `answer.notices` here too would say it twice.
        let mut first = first;
        for feed in answer.progress {
            let target = match first.take() {
                Some(target) => target,
                None => {
                    let placeholder = Reply::text(Tone::Progress, "Starting…");
                    match post(ctx.http.clone(), render(&placeholder, &self.buttons)).await {
                        Ok(target) => target,
                        Err(e) => {
                            warn!(error = %e, "could not post a progress message");
                            continue;
                        }
                    }
                }
            };
            let following = self.activity.task();
            let (rest, buttons) = (self.rest.clone(), self.buttons.clone());
            self.outer.spawn(async move {
                follow(feed, target, rest, buttons).await;
                drop(following);
            });
        }
    }

    async fn slash_command(&self, ctx: &Context, command: CommandInteraction) {
        // Answer within Discord's 3 s; the real answer edits this.
        if let Err(e) = command.defer(&ctx.http).await {
            warn!(command = %command.data.name, error = %e, "could not defer a slash command");
            return;
        }
        let options: Vec<(&str, &str)> = command
            .data
            .options
            .iter()
            .filter_map(|o| o.value.as_str().map(|v| (o.name.as_str(), v)))
            .collect();
        let Some(text) = command_text(&command.data.name, &options) else {
            let reply = Reply::text(
                Tone::Error,
                format!(
                    "I don't know `/{}` with those options; try `/rushbox help`.",
                    command.data.name
                ),
            );
            self.private_instead(ctx, &command, &reply).await;
            return;
        };
        let incoming = self.incoming(
            command.guild_id,
            &command.user,
            command.channel_id,
            text,
            None,
        );
        let Some(answer) = self.answer(incoming).await else {
            return;
        };
        let rendered = render(&answer.reply, &self.buttons);
        let first = if rendered.ephemeral {
            self.private_instead(ctx, &command, &answer.reply).await;
            None
        } else {
            match command
                .edit_response(&ctx.http, rendered.edit_response())
                .await
            {
                Ok(_) => Some(Target::Original(Box::new(command.clone()))),
                Err(e) => {
                    warn!(command = %command.data.name, error = %e, "could not answer a slash command");
                    None
                }
            }
        };
        let command = Box::new(command);
        self.after(ctx, answer, first, |http, rendered| {
            let command = command.clone();
            async move {
                let sent = command.create_followup(&http, rendered.followup()).await?;
                Ok(Target::CommandFollowup(command, sent.id))
            }
        })
        .await;
    }

    /// Replaces the public "thinking…" with a reply only the asker sees.
    async fn private_instead(&self, ctx: &Context, command: &CommandInteraction, reply: &Reply) {
        if let Err(e) = command.delete_response(&ctx.http).await {
            warn!(command = %command.data.name, error = %e, "could not remove the deferred answer");
        }
        let mut rendered = render(reply, &self.buttons);
        rendered.ephemeral = true;
        if let Err(e) = command
            .create_followup(&ctx.http, rendered.followup())
            .await
        {
            warn!(command = %command.data.name, error = %e, "could not answer a slash command");
        }
    }

    async fn autocomplete(&self, ctx: &Context, command: CommandInteraction) {
        let Some(focused) = command.data.autocomplete() else {
            return;
        };
        let robot = self.robot.clone();
        // The store is read on a blocking thread, like every Robot call.
        let envs = tokio::task::spawn_blocking(move || robot.engine().list_envs(None, None))
            .await
            .unwrap_or_default();
        let candidates: Vec<String> = if REF_OPTIONS.contains(&focused.name) {
            envs.iter()
                .filter_map(|e| e.branch.as_ref().map(|b| b.as_str().to_owned()))
                .collect()
        } else if ENV_OPTIONS.contains(&focused.name) {
            envs.iter().map(|e| e.env.as_str().to_owned()).collect()
        } else {
            Vec::new()
        };
        let choices = suggestions(focused.value, candidates)
            .into_iter()
            .fold(CreateAutocompleteResponse::new(), |r, s| {
                r.add_string_choice(s.clone(), s)
            });
        if let Err(e) = command
            .create_response(&ctx.http, CreateInteractionResponse::Autocomplete(choices))
            .await
        {
            warn!(command = %command.data.name, error = %e, "could not suggest options");
        }
    }

    async fn button(&self, ctx: &Context, component: ComponentInteraction) {
        let Some(text) = self.buttons.command(&component.data.custom_id) else {
            let reply = CreateInteractionResponseMessage::new()
                .content("This button is from before rushbox restarted; type the command instead.")
                .ephemeral(true);
            if let Err(e) = component
                .create_response(&ctx.http, CreateInteractionResponse::Message(reply))
                .await
            {
                warn!(error = %e, "could not answer a button");
            }
            return;
        };
        if let Err(e) = component.defer(&ctx.http).await {
            warn!(error = %e, "could not acknowledge a button");
            return;
        }
        let incoming = self.incoming(
            component.guild_id,
            &component.user,
            component.channel_id,
            text,
            None,
        );
        let Some(answer) = self.answer(incoming).await else {
            return;
        };
        let rendered = render(&answer.reply, &self.buttons);
        if granted(&answer.reply) {
            // Granted: the clicked message loses its buttons for everyone, so
            // nobody runs it twice. Refused: it stays as it was, so someone
            // allowed to can still click; only the clicker sees why not.
            let spent = EditInteractionResponse::new().components(Vec::new());
            if let Err(e) = component.edit_response(&ctx.http, spent).await {
                warn!(error = %e, "could not remove the clicked buttons");
            }
        }
        let first = match component
            .create_followup(&ctx.http, rendered.followup())
            .await
        {
            Ok(sent) if !rendered.ephemeral => Some(Target::ComponentFollowup(
                Box::new(component.clone()),
                sent.id,
            )),
            Ok(_) => None,
            Err(e) => {
                warn!(error = %e, "could not answer a button");
                None
            }
        };
        let component = Box::new(component);
        self.after(ctx, answer, first, |http, rendered| {
            let component = component.clone();
            async move {
                let sent = component
                    .create_followup(&http, rendered.followup())
                    .await?;
                Ok(Target::ComponentFollowup(component, sent.id))
            }
        })
        .await;
    }
}

/// Whether the Robot did (or answered) what was asked, rather than refusing
/// or failing.
fn granted(reply: &Reply) -> bool {
    !matches!(reply.tone, Tone::Refused | Tone::Error)
}

/// Edits `target` as the feed moves.
async fn follow(feed: ProgressFeed, target: Target, http: Arc<Http>, buttons: Arc<ButtonCommands>) {
    let target = Arc::new(tokio::sync::Mutex::new(target));
    coalesce(feed, EDIT_INTERVAL, |reply| {
        let (target, http, buttons) = (target.clone(), http.clone(), buttons.clone());
        async move {
            let rendered = render(&reply, &buttons);
            let mut target = target.lock().await;
            let Err(e) = target.edit(&http, &rendered).await else {
                return;
            };
            // An interaction's token lasts 15 minutes; a longer operation
            // goes on in a message of its own in the same channel.
            let Some(channel) = target.channel_of_interaction() else {
                warn!(error = %e, "could not update a progress message");
                return;
            };
            match channel.send_message(&http, rendered.message()).await {
                Ok(sent) => *target = Target::Message(channel, sent.id),
                Err(e) => warn!(%channel, error = %e, "could not update a progress message"),
            }
        }
    })
    .await;
}
