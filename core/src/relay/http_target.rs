//! A Streamable HTTP upstream as the command line gives it: `--url` and
//! its `--header`s, checked once at start so that a typo is one clear
//! line, not a failure at the host's first request.

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::Url;

/// Headers the transport sets itself: a `--header` may not replace them.
const TRANSPORT_HEADERS: [&str; 9] = [
    "accept",
    "content-type",
    "content-length",
    "transfer-encoding",
    "connection",
    "host",
    "mcp-session-id",
    "mcp-protocol-version",
    "last-event-id",
];

#[derive(Debug, Clone)]
pub struct HttpTarget {
    pub url: Url,
    /// Sent on every request (their values are marked sensitive: they
    /// often carry a token, and are never shown or recorded).
    pub headers: HeaderMap,
}

impl HttpTarget {
    /// Reads `--url` and the `--header` arguments (`Name: value`).
    pub fn parse(url: &str, headers: &[String]) -> Result<HttpTarget, String> {
        let url = Url::parse(url).map_err(|e| {
            format!("--url: not a URL ({e}); e.g. --url https://example.com/mcp (a non-ASCII host name must be given in its xn-- form)")
        })?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(format!(
                "--url must be an http:// or https:// URL with a host, not {:?}",
                shown(&url)
            ));
        }
        let mut map = HeaderMap::new();
        for (n, header) in headers.iter().enumerate() {
            let (name, value) = read_header(n + 1, header)?;
            map.append(name, value);
        }
        Ok(HttpTarget { url, headers: map })
    }

    /// The URL as it may be shown and recorded: without the user name,
    /// password, query and fragment, which can hold secrets.
    pub fn shown(&self) -> String {
        shown(&self.url)
    }

    /// The host is this machine: plain http cannot be read on the way.
    pub fn is_loopback(&self) -> bool {
        let Some(host) = self.url.host_str() else {
            return false;
        };
        let ip = host.trim_start_matches('[').trim_end_matches(']');
        host.eq_ignore_ascii_case("localhost")
            || ip
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    }

    /// A warning for plain http to another machine, if due.
    pub fn plain_http_warning(&self) -> Option<String> {
        (self.url.scheme() == "http" && !self.is_loopback()).then(|| {
            format!(
                "warning: {} is plain http to another machine: the messages and any --header (tokens) travel unencrypted; use https",
                self.shown()
            )
        })
    }
}

fn shown(url: &Url) -> String {
    let mut url = url.clone();
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url.set_query(None);
    url.set_fragment(None);
    url.to_string()
}

/// One `--header` (the `n`th). Errors name the header but never show its
/// value, which may be a token.
fn read_header(n: usize, header: &str) -> Result<(HeaderName, HeaderValue), String> {
    let Some((name, value)) = header.split_once(':') else {
        return Err(format!(
            "--header #{n} has no ':'; write it as 'Name: value', e.g. --header 'Authorization: Bearer TOKEN'"
        ));
    };
    let name = name.trim();
    let header_name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
        format!(
            "--header #{n}: {:?} is not a valid header name (letters, digits and !#$%&'*+-.^_`|~ only)",
            super::framing::preview(name.as_bytes())
        )
    })?;
    if TRANSPORT_HEADERS.contains(&header_name.as_str()) {
        return Err(format!(
            "--header {name}: execlave-mcp sets this header itself (MCP's Streamable HTTP transport)"
        ));
    }
    let mut value = HeaderValue::from_str(value.trim()).map_err(|_| {
        format!("--header {name}: its value holds a character a header cannot carry (a control character or a line break)")
    })?;
    value.set_sensitive(true);
    Ok((header_name, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_url_and_headers() {
        let t = HttpTarget::parse(
            "https://me:secret@example.com:8443/mcp?token=abc#x",
            &["Authorization: Bearer abc".into(), "X-Team:  blue ".into()],
        )
        .unwrap();
        assert_eq!(t.shown(), "https://example.com:8443/mcp");
        assert_eq!(t.headers["authorization"], "Bearer abc");
        assert_eq!(t.headers["x-team"], "blue");
        assert!(t.headers["authorization"].is_sensitive());
        assert!(!format!("{t:?}").contains("Bearer abc"));
        assert!(t.plain_http_warning().is_none());
    }

    #[test]
    fn plain_http_is_fine_on_loopback_and_warned_elsewhere() {
        for url in [
            "http://127.0.0.1:3001/mcp",
            "http://localhost/mcp",
            "http://[::1]:9/mcp",
        ] {
            let t = HttpTarget::parse(url, &[]).unwrap();
            assert!(t.is_loopback() && t.plain_http_warning().is_none(), "{url}");
        }
        let t = HttpTarget::parse("http://10.0.0.8/mcp?k=s", &[]).unwrap();
        let warning = t.plain_http_warning().unwrap();
        assert!(warning.contains("http://10.0.0.8/mcp") && !warning.contains("k=s"));
    }

    #[test]
    fn bad_urls_and_headers_say_what_to_fix_without_showing_values() {
        let err = |url: &str, headers: &[&str]| {
            let headers: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
            HttpTarget::parse(url, &headers).unwrap_err()
        };
        assert!(err("example.com/mcp", &[]).contains("--url: not a URL"));
        assert!(err("ftp://example.com/mcp", &[]).contains("http:// or https://"));
        assert!(err("https://x/mcp", &["Bearer sk-123"]).contains("--header #1 has no ':'"));
        assert!(!err("https://x/mcp", &["Bearer sk-123"]).contains("sk-123"));
        assert!(err("https://x/mcp", &["A: b", "Bad Name: v"]).contains("--header #2"));
        assert!(err("https://x/mcp", &["Accept: text/html"]).contains("sets this header itself"));
        assert!(err("https://x/mcp", &["Mcp-Session-Id: s"]).contains("sets this header itself"));
        let e = err("https://x/mcp", &["X-Key: sk-1\u{7}"]);
        assert!(e.contains("--header X-Key") && !e.contains("sk-1"));
    }
}
