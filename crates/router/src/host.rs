//! Which env a request is for, decided from its `Host` header alone (PROXY-1).
//!
//! Pure functions: no I/O, so the routing matrix is a table test.

use std::fmt;

/// Why a `Host` value names no env. Each variant is something the sender can fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostError {
    /// The header is there but empty.
    Empty,
    /// Not a host name: characters outside `a-z 0-9 - .`, an empty label, or a bad port.
    Malformed,
    /// The env label is longer than a DNS label may be (63).
    LabelTooLong,
    /// The env label is not a DNS label (it starts or ends with `-`, or has `_`).
    NotAnEnvLabel,
    /// More than one label in front of the domain (`a.dev-foo.localhost`).
    Nested,
    /// The host is not under the router's domain at all (an IP address, another site).
    OtherDomain,
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HostError::Empty => "the Host header is empty",
            HostError::Malformed => {
                "the Host header is not a host name (letters, digits, '-' and '.', then an optional :port)"
            }
            HostError::LabelTooLong => "the env name in the Host header is longer than 63 characters",
            HostError::NotAnEnvLabel => {
                "the env name in the Host header is not a DNS label (letters, digits and '-', not at either end)"
            }
            HostError::Nested => "the Host header has more than one label before the domain",
            HostError::OtherDomain => "the Host header is not under this router's domain",
        })
    }
}

impl std::error::Error for HostError {}

/// The env a `Host` value addresses under `domain`: `Ok(Some(env))` for
/// `<env>.<domain>`, `Ok(None)` for `<domain>` itself.
///
/// Case-insensitive; a `:port` and one trailing dot are ignored, on the host
/// and on the domain alike.
///
/// ```
/// use rushbox_router::{env_of_host, HostError};
/// assert_eq!(env_of_host("Dev-Foo.localhost:8080", "localhost"), Ok(Some("dev-foo".to_string())));
/// assert_eq!(env_of_host("localhost.", "localhost"), Ok(None));
/// assert_eq!(env_of_host("a.b.localhost", "localhost"), Err(HostError::Nested));
/// ```
pub fn env_of_host(host: &str, domain: &str) -> Result<Option<String>, HostError> {
    let name = host_name(host)?;
    let domain = domain.strip_suffix('.').unwrap_or(domain);
    if name.eq_ignore_ascii_case(domain) {
        return Ok(None);
    }
    let label = name
        .len()
        .checked_sub(domain.len() + 1)
        .filter(|&at| name.as_bytes()[at] == b'.' && name[at + 1..].eq_ignore_ascii_case(domain))
        .map(|at| &name[..at])
        .ok_or(HostError::OtherDomain)?;
    if label.contains('.') {
        return Err(HostError::Nested);
    }
    if label.len() > 63 {
        return Err(HostError::LabelTooLong);
    }
    let dns_label = label
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !label.starts_with('-')
        && !label.ends_with('-');
    if !dns_label {
        return Err(HostError::NotAnEnvLabel);
    }
    Ok(Some(label.to_owned()))
}

/// The host name of a `Host` value: lowercase, without `:port` or a trailing dot.
/// Bracketed IPv6 literals come back as they are (they are never under a domain).
pub(crate) fn host_name(host: &str) -> Result<String, HostError> {
    if host.is_empty() {
        return Err(HostError::Empty);
    }
    let (name, port) = if host.starts_with('[') {
        let end = host.find(']').ok_or(HostError::Malformed)?;
        let (name, rest) = host.split_at(end + 1);
        match rest {
            "" => (name, None),
            rest => (
                name,
                Some(rest.strip_prefix(':').ok_or(HostError::Malformed)?),
            ),
        }
    } else {
        match host.split_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (host, None),
        }
    };
    if let Some(port) = port {
        let valid_port = !port.is_empty()
            && port.len() <= 5
            && port.bytes().all(|b| b.is_ascii_digit())
            && port.parse::<u32>().is_ok_and(|p| p <= 65535);
        if !valid_port {
            return Err(HostError::Malformed);
        }
    }
    if let Some(literal) = name.strip_prefix('[') {
        let valid = literal
            .strip_suffix(']')
            .is_some_and(|ip| ip.parse::<std::net::Ipv6Addr>().is_ok());
        return if valid {
            Ok(name.to_ascii_lowercase())
        } else {
            Err(HostError::Malformed)
        };
    }
    let name = name.strip_suffix('.').unwrap_or(name);
    let well_formed = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        && name.split('.').all(|label| !label.is_empty());
    if !well_formed {
        return Err(HostError::Malformed);
    }
    Ok(name.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_routing_matrix() {
        use HostError::*;
        let long = "a".repeat(63);
        let too_long = "a".repeat(64);
        type Case<'a> = (String, &'a str, Result<Option<&'a str>, HostError>);
        let cases: Vec<Case> = vec![
            ("dev-foo.localhost".into(), "localhost", Ok(Some("dev-foo"))),
            ("DEV-FOO.LocalHost".into(), "localhost", Ok(Some("dev-foo"))),
            (
                "dev-foo.localhost:8080".into(),
                "localhost",
                Ok(Some("dev-foo")),
            ),
            (
                "dev-foo.localhost:443".into(),
                "localhost",
                Ok(Some("dev-foo")),
            ),
            (
                "dev-foo.localhost.".into(),
                "localhost",
                Ok(Some("dev-foo")),
            ),
            (
                "dev-foo.localhost.:8080".into(),
                "localhost",
                Ok(Some("dev-foo")),
            ),
            (
                "prod.envs.example.com".into(),
                "envs.example.com",
                Ok(Some("prod")),
            ),
            (
                "prod.ENVS.example.com".into(),
                "envs.example.com.",
                Ok(Some("prod")),
            ),
            (
                "xn--bcher-kva.localhost".into(),
                "localhost",
                Ok(Some("xn--bcher-kva")),
            ),
            ("7.localhost".into(), "localhost", Ok(Some("7"))),
            (
                format!("{long}.localhost"),
                "localhost",
                Ok(Some(long.as_str())),
            ),
            (
                format!("{too_long}.localhost"),
                "localhost",
                Err(LabelTooLong),
            ),
            ("localhost".into(), "localhost", Ok(None)),
            ("LOCALHOST.:8080".into(), "localhost", Ok(None)),
            ("envs.example.com".into(), "envs.example.com", Ok(None)),
            ("".into(), "localhost", Err(Empty)),
            ("a.b.localhost".into(), "localhost", Err(Nested)),
            ("-x.localhost".into(), "localhost", Err(NotAnEnvLabel)),
            ("x-.localhost".into(), "localhost", Err(NotAnEnvLabel)),
            ("foo_bar.localhost".into(), "localhost", Err(NotAnEnvLabel)),
            ("fooLocalhost".into(), "localhost", Err(OtherDomain)),
            ("xlocalhost".into(), "localhost", Err(OtherDomain)),
            ("example.com".into(), "localhost", Err(OtherDomain)),
            ("127.0.0.1:8080".into(), "localhost", Err(OtherDomain)),
            ("[::1]:8080".into(), "localhost", Err(OtherDomain)),
            ("[::1]".into(), "localhost", Err(OtherDomain)),
            ("[nope]".into(), "localhost", Err(Malformed)),
            ("::1".into(), "localhost", Err(Malformed)),
            ("dev-foo.localhost:".into(), "localhost", Err(Malformed)),
            (
                "dev-foo.localhost:99999".into(),
                "localhost",
                Err(Malformed),
            ),
            ("dev-foo.localhost:80x".into(), "localhost", Err(Malformed)),
            ("dev-foo.localhost..".into(), "localhost", Err(Malformed)),
            (".localhost".into(), "localhost", Err(Malformed)),
            ("dev..localhost".into(), "localhost", Err(Malformed)),
            ("dev foo.localhost".into(), "localhost", Err(Malformed)),
            ("dev-foo.localhost/evil".into(), "localhost", Err(Malformed)),
            ("user@dev-foo.localhost".into(), "localhost", Err(Malformed)),
            ("dév.localhost".into(), "localhost", Err(Malformed)),
        ];
        for (host, domain, want) in cases {
            let want = want.map(|env| env.map(str::to_owned));
            assert_eq!(
                env_of_host(&host, domain),
                want,
                "Host: {host:?} under {domain:?}"
            );
        }
    }
}
