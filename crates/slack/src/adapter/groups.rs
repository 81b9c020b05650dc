//! Slack user groups in roles: `[roles] leads = ["group:slack:S0LEADS"]`
//! names a user group, whose members Slack knows and rushbox asks for
//! (`usergroups.users.list`) at start, every [`REFRESH_INTERVAL`] and when
//! Slack says a group changed. This module reads names and events;
//! [`super::SlackBot`] does the calls and hands members to the Robot.

use std::collections::HashMap;
use std::time::Duration;

use slack_morphism::prelude::SlackEventCallbackBody;

/// How often the members of every named user group are asked again.
pub const REFRESH_INTERVAL: Duration = Duration::from_secs(10 * 60);

/// A user group that roles name, as the Robot calls it and as Slack does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedGroup {
    /// The group's name in roles, without `group:` (`slack:S0LEADS`).
    pub name: String,
    /// Slack's user group id (`S0LEADS`).
    pub id: String,
}

/// The Slack user groups among the groups roles name; the others belong to
/// other platforms. A Slack name that is not a user group id is in `Err`,
/// for the adapter to say so.
pub fn slack_groups(names: &[String]) -> Vec<Result<NamedGroup, String>> {
    names
        .iter()
        .filter_map(|name| {
            let id = name.strip_prefix("slack:")?;
            let looks_right = !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric());
            Some(if looks_right {
                Ok(NamedGroup {
                    name: name.clone(),
                    id: id.to_owned(),
                })
            } else {
                Err(name.clone())
            })
        })
        .collect()
}

/// The user group a push event says changed (`subteam_members_changed`,
/// `subteam_updated`), if any. slack-morphism has no types for these.
pub fn changed_group(event: &SlackEventCallbackBody) -> Option<String> {
    let SlackEventCallbackBody::Unknown(event) = event else {
        return None;
    };
    let id = match event["type"].as_str()? {
        "subteam_members_changed" => &event["subteam_id"],
        "subteam_updated" => &event["subteam"]["id"],
        _ => return None,
    };
    id.as_str().map(str::to_owned)
}

/// The last failure logged per group, so a group that keeps failing the
/// same way every ten minutes is logged once, and again when the reason changes.
#[derive(Debug, Default)]
pub struct Failures {
    last: HashMap<String, String>,
}

impl Failures {
    /// Notes that `group` failed for `why`; true when that is news.
    pub fn failed(&mut self, group: &str, why: &str) -> bool {
        self.last
            .insert(group.to_owned(), why.to_owned())
            .as_deref()
            != Some(why)
    }

    /// Notes that `group` was read; true when it had been failing.
    pub fn read(&mut self, group: &str) -> bool {
        self.last.remove(group).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_slack_groups_with_a_user_group_id_are_asked_for() {
        let names = [
            "slack:S0LEADS",
            "discord:123456",
            "slack:T1:S0LEADS",
            "slack:",
            "slack:SDEVS2",
        ]
        .map(str::to_owned);
        let group = |name: &str, id: &str| {
            Ok(NamedGroup {
                name: name.to_owned(),
                id: id.to_owned(),
            })
        };
        assert_eq!(
            slack_groups(&names),
            vec![
                group("slack:S0LEADS", "S0LEADS"),
                Err("slack:T1:S0LEADS".to_owned()),
                Err("slack:".to_owned()),
                group("slack:SDEVS2", "SDEVS2"),
            ]
        );
    }

    #[test]
    fn group_change_events_name_the_group() {
        let cases = [
            (
                json!({"type": "subteam_members_changed", "subteam_id": "S0LEADS",
                    "added_users": ["U1"], "removed_users": []}),
                Some("S0LEADS"),
            ),
            (
                json!({"type": "subteam_updated", "subteam": {"id": "S0LEADS", "users": ["U1"]}}),
                Some("S0LEADS"),
            ),
            (
                json!({"type": "subteam_created", "subteam": {"id": "S1"}}),
                None,
            ),
            (json!({"type": "subteam_members_changed"}), None),
        ];
        for (event, expected) in cases {
            let body: SlackEventCallbackBody = serde_json::from_value(event.clone()).unwrap();
            assert_eq!(changed_group(&body).as_deref(), expected, "{event}");
        }
    }

    #[test]
    fn a_failure_is_news_once_per_reason() {
        let mut failures = Failures::default();
        assert!(failures.failed("slack:S1", "missing_scope"));
        assert!(!failures.failed("slack:S1", "missing_scope"));
        assert!(
            failures.failed("slack:S2", "missing_scope"),
            "another group"
        );
        assert!(
            failures.failed("slack:S1", "no_such_subteam"),
            "another reason"
        );
        assert!(failures.read("slack:S1"));
        assert!(!failures.read("slack:S1"));
        assert!(
            failures.failed("slack:S1", "no_such_subteam"),
            "failing again"
        );
    }
}
