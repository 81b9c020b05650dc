//! The small HTML page for a host that names no env: what runs, and where.

/// How an env's address is written, for people: `http://<env>.localhost:8080`.
pub(crate) fn address_form(domain: &str, port: u16) -> String {
    format!("http://<env>.{domain}:{port}")
}

/// The page body. Everything that comes from outside (the host asked for, env
/// names, addresses) is escaped. `port` is the router's, as envs are reached.
pub(crate) fn env_list(
    asked: Option<&str>,
    domain: &str,
    port: u16,
    running: &[(String, String)],
) -> String {
    let mut page = String::from(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>rushbox environments</title></head><body>\n",
    );
    match asked {
        Some(host) => page.push_str(&format!("<h1>No environment at {}</h1>\n", escape(host))),
        None => page.push_str("<h1>rushbox environments</h1>\n"),
    }
    if running.is_empty() {
        page.push_str("<p>No environment is running.</p>\n");
    } else {
        page.push_str(&format!(
            "<p>Running environments, each at <code>{}</code>:</p>\n<ul>\n",
            escape(&address_form(domain, port))
        ));
        for (env, address) in running {
            // Only web addresses become links: a `javascript:` one stays text.
            let linkable = address.starts_with("http://") || address.starts_with("https://");
            if linkable {
                page.push_str(&format!(
                    "<li><a href=\"{}\">{}</a> {}</li>\n",
                    escape(address),
                    escape(env),
                    escape(address)
                ));
            } else {
                page.push_str(&format!("<li>{} {}</li>\n", escape(env), escape(address)));
            }
        }
        page.push_str("</ul>\n");
    }
    page.push_str("</body></html>\n");
    page
}

/// Escape text for HTML element content and quoted attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn everything_from_outside_is_escaped() {
        let running = vec![("<b>x</b>".to_string(), "http://a\"b'&c".to_string())];
        let page = env_list(Some("<script>.localhost"), "local<host>", 8080, &running);
        assert!(
            !page.contains("<b>") && !page.contains("<script>"),
            "{page}"
        );
        assert!(page.contains("&lt;b&gt;x&lt;/b&gt;"), "{page}");
        assert!(page.contains("http://a&quot;b&#39;&amp;c"), "{page}");
        assert!(page.contains("local&lt;host&gt;"), "{page}");
    }

    #[test]
    fn only_web_addresses_become_links() {
        let running = vec![("x".to_string(), "javascript:alert(1)".to_string())];
        assert!(!env_list(None, "localhost", 8080, &running).contains("href"));
    }

    #[test]
    fn the_page_shows_the_whole_address_form_with_the_port() {
        let running = vec![(
            "staging".to_string(),
            "http://staging.localhost:8181".to_string(),
        )];
        let page = env_list(Some("nope.localhost:8181"), "localhost", 8181, &running);
        assert!(
            page.contains("each at <code>http://&lt;env&gt;.localhost:8181</code>"),
            "{page}"
        );
    }
}
