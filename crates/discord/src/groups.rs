//! Discord roles in `[roles]`: `leads = ["group:discord:1100000000000000001"]`
//! names a Discord role, and whoever holds it has the rushbox role. Discord
//! says who holds which roles in the member object of every guild message
//! and interaction, in member events (with `members_intent`) and in
//! GUILD_CREATE; [`Memberships`] keeps who holds each named role and says
//! which ones changed, for the adapter to tell the Robot. The actor id stays
//! `discord:<guild>:<user>` whatever roles a person holds, so a role change
//! leaves their locks and envs theirs.

use std::collections::{BTreeSet, HashMap};

use serenity::all::{GuildId, RoleId, UserId};

/// The Discord roles among the groups roles name (`discord:<role id>`); the
/// others belong to other platforms. A Discord name that is not a role id
/// is in `Err`, for the adapter to say so.
pub fn discord_roles(group_names: &[String]) -> Vec<Result<RoleId, String>> {
    group_names
        .iter()
        .filter_map(|name| {
            let id = name.strip_prefix("discord:")?;
            Some(match id.parse::<u64>() {
                Ok(id) if id != 0 => Ok(RoleId::new(id)),
                _ => Err(name.clone()),
            })
        })
        .collect()
}

/// The group a Discord role is in `[roles]`, without `group:`.
pub fn group_name(role: RoleId) -> String {
    format!("discord:{role}")
}

/// A member of a guild.
pub type Member = (GuildId, UserId);

/// Who holds each Discord role that roles name, as Discord last said.
/// Only named roles are kept, and only people holding one of them.
#[derive(Debug, Default)]
pub struct Memberships {
    holders: HashMap<RoleId, BTreeSet<Member>>,
    held: HashMap<Member, BTreeSet<RoleId>>,
}

impl Memberships {
    /// Memberships of these roles (the ones roles name), nobody in them yet.
    pub fn new(named: impl IntoIterator<Item = RoleId>) -> Memberships {
        Memberships {
            holders: named.into_iter().map(|r| (r, BTreeSet::new())).collect(),
            held: HashMap::new(),
        }
    }

    /// Whether any Discord role is named (if not, there is nothing to keep).
    pub fn is_needed(&self) -> bool {
        !self.holders.is_empty()
    }

    /// `member` holds exactly `roles` now. The named roles whose holders
    /// changed; none, most of the time, and then nothing was written.
    pub fn holds(&mut self, member: Member, roles: &[RoleId]) -> Vec<RoleId> {
        let now: BTreeSet<RoleId> = roles
            .iter()
            .filter(|r| self.holders.contains_key(r))
            .copied()
            .collect();
        let before = self.held.get(&member);
        if before.map_or(now.is_empty(), |before| *before == now) {
            return Vec::new();
        }
        let before = match now.is_empty() {
            true => self.held.remove(&member).unwrap_or_default(),
            false => self.held.insert(member, now.clone()).unwrap_or_default(),
        };
        let changed: Vec<RoleId> = before.symmetric_difference(&now).copied().collect();
        for role in &changed {
            if let Some(holders) = self.holders.get_mut(role) {
                if now.contains(role) {
                    holders.insert(member);
                } else {
                    holders.remove(&member);
                }
            }
        }
        changed
    }

    /// `member` left the guild (or was removed): they hold nothing there.
    pub fn left(&mut self, member: Member) -> Vec<RoleId> {
        self.holds(member, &[])
    }

    /// A role was deleted: nobody holds it. Whether it had holders.
    pub fn role_deleted(&mut self, role: RoleId) -> bool {
        let Some(holders) = self.holders.get_mut(&role) else {
            return false;
        };
        let gone = std::mem::take(holders);
        for member in &gone {
            if let Some(held) = self.held.get_mut(member) {
                held.remove(&role);
                if held.is_empty() {
                    self.held.remove(member);
                }
            }
        }
        !gone.is_empty()
    }

    /// Who holds `role`.
    pub fn holders(&self, role: RoleId) -> impl Iterator<Item = Member> + '_ {
        self.holders.get(&role).into_iter().flatten().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEAD: RoleId = RoleId::new(900);
    const DEV: RoleId = RoleId::new(901);
    const OTHER: RoleId = RoleId::new(5);

    const NONE: [RoleId; 0] = [];

    fn member(user: u64) -> Member {
        (GuildId::new(1), UserId::new(user))
    }

    fn holders(m: &Memberships, role: RoleId) -> Vec<u64> {
        m.holders(role).map(|(_, u)| u.get()).collect()
    }

    #[test]
    fn only_discord_groups_named_by_a_role_id_are_roles() {
        let names =
            ["discord:900", "slack:S0LEADS", "discord:leads", "discord:0"].map(str::to_owned);
        assert_eq!(
            discord_roles(&names),
            vec![
                Ok(RoleId::new(900)),
                Err("discord:leads".to_owned()),
                Err("discord:0".to_owned())
            ]
        );
        assert_eq!(group_name(LEAD), "discord:900");
    }

    /// (what Discord says about whom, the roles that changed, then the lead role's holders)
    #[test]
    fn holders_follow_what_discord_says_and_only_changes_are_reported() {
        let mut m = Memberships::new([LEAD, DEV]);
        assert_eq!(m.holds(member(10), &[LEAD, OTHER]), [LEAD]);
        assert_eq!(m.holds(member(10), &[OTHER, LEAD]), NONE, "the same again");
        assert_eq!(m.holds(member(11), &[OTHER]), NONE, "no named role");
        assert_eq!(m.holds(member(11), &[DEV, LEAD]), [LEAD, DEV]);
        assert_eq!(holders(&m, LEAD), [10, 11]);
        assert_eq!(m.holds(member(10), &[DEV]), [LEAD, DEV], "lead taken away");
        assert_eq!(holders(&m, LEAD), [11]);
        assert_eq!(holders(&m, DEV), [10, 11]);
        assert_eq!(m.left(member(11)), [LEAD, DEV]);
        assert_eq!(m.left(member(11)), NONE, "gone already");
        assert_eq!(holders(&m, LEAD), Vec::<u64>::new());
        assert!(m.role_deleted(DEV));
        assert!(!m.role_deleted(DEV));
        assert!(!m.role_deleted(OTHER), "not named");
        assert_eq!(holders(&m, DEV), Vec::<u64>::new());
        assert!(m.held.is_empty(), "nobody holds anything: nothing kept");
    }

    #[test]
    fn the_same_person_in_another_guild_is_another_member() {
        let mut m = Memberships::new([LEAD]);
        let elsewhere = (GuildId::new(2), UserId::new(10));
        assert_eq!(m.holds(member(10), &[LEAD]), [LEAD]);
        assert_eq!(m.holds(elsewhere, &[]), NONE);
        assert_eq!(m.holders(LEAD).collect::<Vec<_>>(), [member(10)]);
    }
}
