//! Display names: what people are called in the workspace (`users.info`),
//! remembered for a while. A name is only shown, never trusted: roles follow
//! the user id. This module decides (which name, how long it holds, when a
//! failure is worth a log line); [`super::SlackBot`] does the calls.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use slack_morphism::prelude::SlackUser;

/// How long a looked-up name is used before it is asked again.
pub const NAME_LIFETIME: Duration = Duration::from_secs(60 * 60);
/// After a failed lookup, how long the id stands in before Slack is asked again.
pub const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(5 * 60);
/// How many people are remembered (the least recently looked up go first).
pub const CAPACITY: usize = 2048;
/// Longest name kept, in characters (Slack allows 80 for a display name).
const MAX_NAME_CHARS: usize = 80;

/// The name to show for a Slack user: the profile's display name, else the
/// real name, else the account name; `None` when all are empty.
pub fn name_of(user: &SlackUser) -> Option<String> {
    let profile = user.profile.as_ref();
    [
        profile.and_then(|p| p.display_name.as_deref()),
        profile.and_then(|p| p.real_name.as_deref()),
        user.real_name.as_deref(),
        user.name.as_deref(),
    ]
    .into_iter()
    .flatten()
    .map(clean)
    .find(|name| !name.is_empty())
}

/// A name as safe to show: no control characters, trimmed, not too long.
fn clean(name: &str) -> String {
    let printable: String = name.chars().filter(|c| !c.is_control()).collect();
    printable.trim().chars().take(MAX_NAME_CHARS).collect()
}

/// Names already looked up, each until it expires; bounded.
#[derive(Debug, Default)]
pub struct DisplayNames {
    entries: HashMap<String, Entry>,
    /// True from a failed lookup until the next successful one, so an outage
    /// (or a missing scope) is logged once, not once per message.
    failing: bool,
}

#[derive(Debug)]
struct Entry {
    name: String,
    expires: Instant,
}

impl DisplayNames {
    /// The remembered name of `user`, if it has not expired at `now`.
    pub fn get(&self, user: &str, now: Instant) -> Option<&str> {
        self.entries
            .get(user)
            .filter(|e| now < e.expires)
            .map(|e| e.name.as_str())
    }

    /// Remembers what `users.info` said (the id itself when it gave no name).
    pub fn looked_up(&mut self, user: &str, name: Option<String>, now: Instant) {
        self.failing = false;
        let name = name.unwrap_or_else(|| user.to_owned());
        self.insert(user, name, now + NAME_LIFETIME);
    }

    /// Notes a failed lookup: the id stands in for a while. True when this
    /// failure starts an outage, i.e. when it should be logged.
    pub fn failed(&mut self, user: &str, now: Instant) -> bool {
        self.insert(user, user.to_owned(), now + RETRY_AFTER_FAILURE);
        !std::mem::replace(&mut self.failing, true)
    }

    fn insert(&mut self, user: &str, name: String, expires: Instant) {
        if self.entries.len() >= CAPACITY && !self.entries.contains_key(user) {
            // Every entry lives as long from its lookup, so the one that
            // expires first was looked up longest ago.
            if let Some(oldest) = self
                .entries
                .iter()
                .min_by_key(|(_, e)| e.expires)
                .map(|(id, _)| id.clone())
            {
                self.entries.remove(&oldest);
            }
        }
        self.entries
            .insert(user.to_owned(), Entry { name, expires });
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn user(fields: serde_json::Value) -> SlackUser {
        let mut user = json!({"id": "U1"});
        if let (Some(user), Some(fields)) = (user.as_object_mut(), fields.as_object()) {
            user.extend(fields.clone());
        }
        serde_json::from_value(user).unwrap()
    }

    #[test]
    fn the_display_name_then_the_real_name_then_the_account_name() {
        let cases = [
            (
                json!({"name": "ada", "real_name": "Ada L.",
                    "profile": {"display_name": "Ada", "real_name": "Ada Lovelace"}}),
                Some("Ada"),
            ),
            // Slack sends an empty display name when the person set none.
            (
                json!({"name": "ada", "profile": {"display_name": "", "real_name": "Ada Lovelace"}}),
                Some("Ada Lovelace"),
            ),
            (
                json!({"name": "ada", "real_name": "Ada L.", "profile": {"display_name": "  "}}),
                Some("Ada L."),
            ),
            (json!({"name": "ada"}), Some("ada")),
            (
                json!({"profile": {"display_name": "\u{7}Ada\n"}}),
                Some("Ada"),
            ),
            (json!({"name": "", "profile": {}}), None),
        ];
        for (fields, expected) in cases {
            let shown = name_of(&user(fields.clone()));
            assert_eq!(shown.as_deref(), expected, "{fields}");
        }
        let long = "x".repeat(200);
        let shown = name_of(&user(json!({"profile": {"display_name": long}})));
        assert_eq!(shown.map(|n| n.chars().count()), Some(MAX_NAME_CHARS));
    }

    #[test]
    fn a_name_holds_for_an_hour_and_a_failure_for_minutes() {
        let start = Instant::now();
        let mut names = DisplayNames::default();
        assert_eq!(names.get("U1", start), None);
        names.looked_up("U1", Some("Ada".to_owned()), start);
        assert_eq!(
            names.get("U1", start + Duration::from_secs(59 * 60)),
            Some("Ada")
        );
        assert_eq!(names.get("U1", start + NAME_LIFETIME), None, "asked again");

        names.looked_up("U2", None, start);
        assert_eq!(names.get("U2", start), Some("U2"), "no name: the id");

        assert!(names.failed("U3", start), "the first failure is logged");
        assert_eq!(names.get("U3", start), Some("U3"));
        assert_eq!(names.get("U3", start + RETRY_AFTER_FAILURE), None);
        assert!(
            !names.failed("U4", start),
            "the outage goes on: not logged again"
        );
        names.looked_up("U5", Some("Eve".to_owned()), start);
        assert!(names.failed("U6", start), "a new outage is logged");
    }

    #[test]
    fn memory_is_bounded_and_the_oldest_lookup_goes_first() {
        let start = Instant::now();
        let mut names = DisplayNames::default();
        for i in 0..CAPACITY {
            let at = start + Duration::from_millis(i as u64);
            names.looked_up(&format!("U{i}"), Some(format!("n{i}")), at);
        }
        let later = start + Duration::from_secs(1);
        names.looked_up("UNEW", Some("New".to_owned()), later);
        assert_eq!(names.len(), CAPACITY);
        assert_eq!(names.get("U0", later), None, "the oldest was forgotten");
        assert_eq!(names.get("U1", later), Some("n1"));
        assert_eq!(names.get("UNEW", later), Some("New"));
        // Looking up someone remembered again replaces, never evicts.
        names.looked_up("U1", Some("n1'".to_owned()), later);
        assert_eq!(names.get("U2", later), Some("n2"));
        assert_eq!(names.len(), CAPACITY);
    }
}
