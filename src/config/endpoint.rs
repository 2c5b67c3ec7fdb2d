//! etcd endpoint URLs, checked fully before anything connects: a typo
//! would otherwise show up as an endless "etcd unreachable" retry or a
//! runtime error that does not name the flag.
use std::net::{Ipv4Addr, Ipv6Addr};

/// Why an endpoint URL is refused, and what to do instead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct EndpointError {
    pub problem: String,
    pub fix: &'static str,
}

const FIX_URL: &str =
    "give comma-separated URLs such as http://127.0.0.1:2379,https://10.0.0.5:2379 or https://[fd00::5]:2379";
const FIX_USERINFO: &str =
    "give the user with --etcd-username and the password with --etcd-password, VXGATE_ETCD_PASSWORD or the config file's etcd-password";

fn bad(problem: impl Into<String>) -> EndpointError {
    EndpointError {
        problem: problem.into(),
        fix: FIX_URL,
    }
}

/// Accepts `http://HOST[:PORT][/]` and `https://HOST[:PORT][/]`, HOST being
/// an IPv4 address, a bracketed IPv6 address or a DNS name (ASCII letters,
/// digits, `-` and `.`), PORT 1 to 65535. No user info, path, query or
/// fragment.
pub(super) fn check_endpoint(url: &str) -> Result<(), EndpointError> {
    let Some(rest) = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
    else {
        return Err(bad(match url.split_once("://") {
            Some((scheme, _)) => format!("scheme `{scheme}` is not http or https"),
            None => "not an http:// or https:// URL".to_owned(),
        }));
    };
    // Any `@` is taken for user info (a password may hold `/` or `?`);
    // a path is refused anyway.
    if rest.contains('@') {
        return Err(EndpointError {
            problem:
                "user name or password in the URL (it would be written to logs and error messages)"
                    .to_owned(),
            fix: FIX_USERINFO,
        });
    }
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if let Some(at) = authority.find(['/', '?', '#']) {
        return Err(bad(format!(
            "`{}` after the host: a gRPC endpoint has no path, query or fragment",
            &authority[at..]
        )));
    }
    if authority.is_empty() {
        return Err(bad("no host"));
    }
    let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        let Some((v6, after)) = bracketed.split_once(']') else {
            return Err(bad("`[` without `]`: write an IPv6 host as [fd00::5]"));
        };
        v6.parse::<Ipv6Addr>()
            .map_err(|_| bad(format!("`[{v6}]` is not an IPv6 address")))?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or_else(|| {
                bad(format!("`{p}` after `[{v6}]`: expected `:PORT` or nothing"))
            })?),
        };
        (None, port)
    } else {
        match authority.split_once(':') {
            Some((_, p)) if p.contains(':') => return Err(bad(
                "more than one `:`: write an IPv6 host in brackets, e.g. https://[fd00::5]:2379",
            )),
            Some((h, p)) => (Some(h), Some(p)),
            None => (Some(authority), None),
        }
    };
    if let Some(host) = host {
        check_host(host)?;
    }
    if let Some(port) = port {
        check_port(port)?;
    }
    Ok(())
}

fn check_host(host: &str) -> Result<(), EndpointError> {
    if host.is_empty() {
        return Err(bad("no host"));
    }
    if let Some(c) = host
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '.'))
    {
        return Err(EndpointError {
            problem: format!(
                "host `{host}` contains {c:?}; a host is an IPv4 address, a bracketed IPv6 address or a DNS name of letters, digits, `-` and `.`"
            ),
            fix: "correct the host (write an internationalised name in its ASCII xn-- form)",
        });
    }
    // All digits and dots: an IPv4 address (a DNS top-level label is never
    // all-numeric), so 10.0.0.256 or 10.0.5 is a typo, not a name.
    if host.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return host
            .parse::<Ipv4Addr>()
            .map(|_| ())
            .map_err(|_| bad(format!("host `{host}` is not an IPv4 address")));
    }
    let name = host.strip_suffix('.').unwrap_or(host);
    if name.len() > 253 {
        return Err(bad(format!(
            "host `{host}` is longer than a DNS name may be (253 characters)"
        )));
    }
    for label in name.split('.') {
        if label.is_empty() || label.len() > 63 || label.starts_with('-') || label.ends_with('-') {
            return Err(bad(format!(
                "host `{host}` is not a valid DNS name (labels of 1 to 63 letters, digits or `-`, not starting or ending with `-`, separated by single dots)"
            )));
        }
    }
    Ok(())
}

fn check_port(port: &str) -> Result<(), EndpointError> {
    if port.is_empty() {
        return Err(bad("`:` without a port: write e.g. :2379, or drop the `:`"));
    }
    let ok = port.bytes().all(|b| b.is_ascii_digit())
        && port.parse::<u32>().is_ok_and(|p| (1..=65535).contains(&p));
    if !ok {
        return Err(bad(format!(
            "port `{port}` is not a number from 1 to 65535"
        )));
    }
    Ok(())
}

/// The URL as it may be shown: everything between `://` and the last `@`
/// replaced by `***`, so a password given in a URL does not end up in the
/// error message.
pub(super) fn redact(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((s, r)) => (Some(s), r),
        None => (None, url),
    };
    match rest.rfind('@') {
        Some(at) => {
            let tail = &rest[at..];
            match scheme {
                Some(s) => format!("{s}://***{tail}"),
                None => format!("***{tail}"),
            }
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted() {
        for url in [
            "http://127.0.0.1:2379",
            "https://10.0.0.5:2379/",
            "http://etcd",
            "http://etcd-0.etcd.kube-system.svc.cluster.local:2379",
            "http://etcd.example.:2379",
            "https://[::1]:2379",
            "https://[fd00::5]",
            "http://e:1",
            "http://e:65535",
            "http://1e100.net:2379",
        ] {
            assert_eq!(check_endpoint(url), Ok(()), "{url}");
        }
    }

    #[test]
    fn refused() {
        for (url, part) in [
            ("http://127.0.0.1:99999", "1 to 65535"),
            ("http://127.0.0.1:0", "1 to 65535"),
            ("http://127.0.0.1:-1", "1 to 65535"),
            ("http://127.0.0.1:+1", "1 to 65535"),
            ("http://127.0.0.1:", "without a port"),
            ("http://:", "no host"),
            ("http://:2379", "no host"),
            ("http://", "no host"),
            ("http:///", "no host"),
            ("http://a b:1", "contains ' '"),
            ("http://é:1", "contains 'é'"),
            ("http://a_b:1", "contains '_'"),
            ("http://[::1", "without `]`"),
            ("http://[::1]x", "expected `:PORT`"),
            ("http://[zz]:1", "not an IPv6 address"),
            ("http://::1:2379", "more than one `:`"),
            ("http://10.0.0.256:2379", "not an IPv4 address"),
            ("http://10.0.5:2379", "not an IPv4 address"),
            ("http://a..b:2379", "not a valid DNS name"),
            ("http://-a:2379", "not a valid DNS name"),
            ("http://.a:2379", "not a valid DNS name"),
            ("http://e:2379/v3", "no path"),
            ("http://e:2379?x=1", "no path"),
            ("http://e:2379//", "no path"),
            ("ftp://e:2379", "scheme `ftp`"),
            ("HTTP://e:2379", "scheme `HTTP`"),
            ("10.0.0.5:2379", "not an http:// or https:// URL"),
            ("http://user:pw@e:2379", "user name or password"),
            ("http://user@e:2379/x", "user name or password"),
            ("http://u:p/w@e:2379", "user name or password"),
            ("u:pw@e:2379", "not an http://"),
        ] {
            let err = check_endpoint(url).expect_err(url);
            assert!(err.problem.contains(part), "{url}: {}", err.problem);
        }
        let long = format!("http://{}.example:2379", "a".repeat(64));
        assert!(check_endpoint(&long).is_err());
    }

    #[test]
    fn userinfo_is_redacted() {
        assert_eq!(redact("http://user:pw@e:2379"), "http://***@e:2379");
        assert_eq!(redact("https://pw@e"), "https://***@e");
        assert_eq!(redact("http://u:p/w@e:2379"), "http://***@e:2379");
        assert_eq!(redact("u:pw@e:2379"), "***@e:2379");
        assert_eq!(redact("http://e:2379"), "http://e:2379");
    }
}
