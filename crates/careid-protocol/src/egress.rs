//! The outbound HTTP policy: every request careid makes on a client's behalf (its
//! `jwks_uri`, its `backchannel_logout_uri`) goes through [`Egress`], and nothing else
//! in careid opens a connection a client chose.
//!
//! A client names the URL, so without a policy careid is a proxy into its own network
//! (server-side request forgery, OWASP SSRF Prevention Cheat Sheet): a loopback admin
//! port, a database, the cloud metadata service. So, unless a client file says
//! `allow_private_network = true` (development only; registered clients never can):
//!
//! - only `https` on port 443, without credentials in the URL;
//! - the host's addresses are checked after DNS resolution, and the request goes to
//!   exactly those addresses: the resolver refuses a name with any forbidden address
//!   ([`forbidden_range`]), and the connection uses the addresses it returned, so a
//!   second lookup cannot answer differently (DNS rebinding). An IP literal is checked
//!   before the request, as no lookup happens for it;
//! - no redirects, no proxy from the environment, bounded time and response size;
//! - at most [`MAX_CONCURRENT`] requests at once: over that a request fails at once;
//! - a failed GET is remembered for [`FAILURE_TTL`] per URL and not tried again
//!   before then, so a client cannot make careid fetch on every request.
//!
//! What is fetched and why (key caching, delivery retries) is the caller's:
//! `client_assertion` and `backchannel`.

use std::{
    collections::HashMap,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    sync::{Arc, Mutex, OnceLock},
    time::Duration,
};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use time::OffsetDateTime;
use tokio::sync::{Semaphore, SemaphorePermit};
use url::{Host, Url};

/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// How long a whole request may take, from connecting to the last byte of the body.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// How many outbound requests one instance makes at once. A request over the cap fails
/// at once rather than queueing: the caller (a token request) must not wait on others.
pub(crate) const MAX_CONCURRENT: usize = 8;

/// How long a failed GET is remembered: no new attempt at that URL before then.
pub(crate) const FAILURE_TTL: time::Duration = time::Duration::seconds(60);

/// How many failed URLs are remembered at most; past that (after forgetting expired
/// ones), a new failure is not remembered.
const MAX_REMEMBERED: usize = 1024;

/// Which addresses a client's URLs may reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reach {
    /// https on port 443 to public addresses only: every registered client, and every
    /// client file without `allow_private_network`.
    PublicOnly,
    /// http or https, any port, any address: a client file with
    /// `allow_private_network = true`, for development.
    PrivateNetwork,
}

/// Why careid does not send a request: the URL or its addresses break the policy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refusal(pub String);

/// Why an outbound request did not succeed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum EgressError {
    /// The URL or the addresses it resolves to are not allowed.
    #[error("refused: {0}")]
    Refused(#[from] Refusal),
    /// [`MAX_CONCURRENT`] requests are already under way.
    #[error("too many outbound requests at once")]
    Busy,
    /// The same URL failed less than [`FAILURE_TTL`] ago.
    #[error("failed recently ({0}); not tried again before {1}")]
    RecentlyFailed(String, OffsetDateTime),
    /// The server answered something other than 2xx.
    #[error("answered {0}")]
    Status(reqwest::StatusCode),
    /// The response body is larger than the caller allows.
    #[error("the response is larger than {0} bytes")]
    TooLarge(usize),
    /// The body arrived but the caller could not read it.
    #[error("unreadable response: {0}")]
    Unreadable(String),
    /// Connecting, sending or receiving failed, or took too long.
    #[error("{0}")]
    Failed(String),
}

/// Checks what can be checked of `url` without the network: a parsable http(s) URL
/// with a host; for [`Reach::PublicOnly`], https on port 443, no credentials, and a
/// host that is neither a forbidden IP literal nor a `localhost` name (RFC 6761 §6.3).
/// Registration and client files use it to refuse bad metadata early; every request
/// uses it again, and checks the resolved addresses too.
pub fn check_url(url: &str, reach: Reach) -> Result<Url, Refusal> {
    let refuse = |why: &str| Err(Refusal(why.to_owned()));
    let Ok(parsed) = Url::parse(url) else {
        return refuse("is not an absolute URL");
    };
    if !matches!(parsed.scheme(), "https" | "http") {
        return refuse("must be an https URL");
    }
    let Some(host) = parsed.host() else {
        return refuse("has no host");
    };
    if reach == Reach::PrivateNetwork {
        return Ok(parsed);
    }
    if parsed.scheme() != "https" {
        return refuse("must use https");
    }
    if parsed.port_or_known_default() != Some(443) {
        return refuse("must use the https port, 443");
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return refuse("must not carry a user name or password");
    }
    let ip = match host {
        Host::Domain(name) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            if name == "localhost" || name.ends_with(".localhost") {
                return refuse("names localhost, a loopback host");
            }
            return Ok(parsed);
        }
        Host::Ipv4(v4) => IpAddr::V4(v4),
        Host::Ipv6(v6) => IpAddr::V6(v6),
    };
    match forbidden_range(ip) {
        Some(range) => Err(Refusal(format!("names {ip}, a {range} address"))),
        None => Ok(parsed),
    }
}

/// A network careid never sends a client's request into, and what it is.
struct Forbidden {
    net: IpNet,
    what: &'static str,
}

const fn v4(a: u8, b: u8, c: u8, d: u8, prefix: u8, what: &'static str) -> Forbidden {
    Forbidden {
        net: IpNet::V4(Ipv4Net::new_assert(Ipv4Addr::new(a, b, c, d), prefix)),
        what,
    }
}

const fn v6(segments: [u16; 8], prefix: u8, what: &'static str) -> Forbidden {
    let [a, b, c, d, e, f, g, h] = segments;
    Forbidden {
        net: IpNet::V6(Ipv6Net::new_assert(
            Ipv6Addr::new(a, b, c, d, e, f, g, h),
            prefix,
        )),
        what,
    }
}

/// The special-purpose networks (IANA IPv4 and IPv6 Special-Purpose Address Registries)
/// that are not the public internet, most specific first so the name is the telling
/// one. IPv6 forms that carry an IPv4 address are checked by that address instead
/// ([`embedded_ipv4`]).
const FORBIDDEN: [Forbidden; 25] = [
    // The cloud metadata services (AWS, GCP, Azure, OpenStack; AWS over IPv6) hand out
    // credentials to whoever asks from the machine.
    v4(169, 254, 169, 254, 32, "cloud metadata"),
    v6([0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254], 128, "cloud metadata"),
    v4(255, 255, 255, 255, 32, "broadcast"),
    v4(0, 0, 0, 0, 8, "unspecified (this network, RFC 1122)"),
    v4(10, 0, 0, 0, 8, "private (RFC 1918)"),
    v4(100, 64, 0, 0, 10, "shared CGNAT (RFC 6598)"),
    v4(127, 0, 0, 0, 8, "loopback"),
    v4(169, 254, 0, 0, 16, "link-local"),
    v4(172, 16, 0, 0, 12, "private (RFC 1918)"),
    v4(192, 0, 0, 0, 24, "IETF protocol assignment (RFC 6890)"),
    v4(192, 0, 2, 0, 24, "documentation (RFC 5737)"),
    v4(192, 88, 99, 0, 24, "6to4 relay (RFC 7526)"),
    v4(192, 168, 0, 0, 16, "private (RFC 1918)"),
    v4(198, 18, 0, 0, 15, "benchmarking (RFC 2544)"),
    v4(198, 51, 100, 0, 24, "documentation (RFC 5737)"),
    v4(203, 0, 113, 0, 24, "documentation (RFC 5737)"),
    v4(224, 0, 0, 0, 4, "multicast"),
    v4(240, 0, 0, 0, 4, "reserved (RFC 1112)"),
    v6([0, 0, 0, 0, 0, 0, 0, 0], 128, "unspecified"),
    v6([0, 0, 0, 0, 0, 0, 0, 1], 128, "loopback"),
    v6(
        [0, 0, 0, 0, 0, 0, 0, 0],
        96,
        "IPv4-compatible (deprecated, RFC 4291)",
    ),
    v6([0x100, 0, 0, 0, 0, 0, 0, 0], 64, "discard-only (RFC 6666)"),
    v6(
        [0x2001, 0xdb8, 0, 0, 0, 0, 0, 0],
        32,
        "documentation (RFC 3849)",
    ),
    v6([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7, "unique local (RFC 4193)"),
    v6([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10, "link-local"),
];

/// Further IPv6 networks that are not the public internet.
const FORBIDDEN_V6: [Forbidden; 5] = [
    v6(
        [0x64, 0xff9b, 1, 0, 0, 0, 0, 0],
        48,
        "local-use NAT64 (RFC 8215)",
    ),
    v6([0x2001, 0, 0, 0, 0, 0, 0, 0], 32, "Teredo (RFC 4380)"),
    v6([0x2001, 0x10, 0, 0, 0, 0, 0, 0], 28, "ORCHID (RFC 4843)"),
    v6(
        [0xfec0, 0, 0, 0, 0, 0, 0, 0],
        10,
        "site-local (deprecated, RFC 3879)",
    ),
    v6([0xff00, 0, 0, 0, 0, 0, 0, 0], 8, "multicast"),
];

/// The IPv4 address an IPv6 address stands for, where the network delivers it to that
/// IPv4 address: IPv4-mapped (`::ffff:a.b.c.d`, RFC 4291 §2.5.5.2), the NAT64
/// well-known prefix (`64:ff9b::/96`, RFC 6052) and 6to4 (`2002::/16`, RFC 3056).
fn embedded_ipv4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    if let Some(v4) = v6.to_ipv4_mapped() {
        return Some(v4);
    }
    let s = v6.segments();
    let o = v6.octets();
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(Ipv4Addr::new(o[12], o[13], o[14], o[15]));
    }
    if s[0] == 0x2002 {
        return Some(Ipv4Addr::new(o[2], o[3], o[4], o[5]));
    }
    None
}

/// What kind of non-public address `ip` is, or `None` for a public one.
pub fn forbidden_range(ip: IpAddr) -> Option<&'static str> {
    let ip = match ip {
        IpAddr::V6(v6) => match embedded_ipv4(v6) {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    };
    FORBIDDEN
        .iter()
        .chain(&FORBIDDEN_V6)
        .find(|range| range.net.contains(&ip))
        .map(|range| range.what)
}

/// The resolver of the public-only HTTP client: the system's lookup, refusing a name
/// when any of its addresses is forbidden. The connection is made to the addresses
/// returned here and no others, so the check and the connection agree.
struct PublicResolver;

impl Resolve for PublicResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if addrs.is_empty() {
                return Err(Refusal(format!("{host} has no address")).into());
            }
            // A name with one private address among public ones is refused whole: its
            // owner is pointing careid inside.
            if let Some((ip, range)) = addrs
                .iter()
                .find_map(|addr| forbidden_range(addr.ip()).map(|range| (addr.ip(), range)))
            {
                return Err(Refusal(format!("{host} resolves to {ip}, a {range} address")).into());
            }
            let addrs: Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

/// The outbound HTTP clients, the concurrency cap and the remembered failures. One per
/// [`crate::Protocol`].
pub(crate) struct Egress {
    /// For [`Reach::PublicOnly`], built on first use; `None` if it could not be built
    /// (logged once).
    public_only: OnceLock<Option<reqwest::Client>>,
    /// For [`Reach::PrivateNetwork`], likewise.
    private_network: OnceLock<Option<reqwest::Client>>,
    permits: Arc<Semaphore>,
    failures: Mutex<HashMap<(String, Reach), Failure>>,
}

#[derive(Debug, Clone)]
struct Failure {
    why: String,
    until: OffsetDateTime,
}

/// An outbound client: no redirects (a 3xx is a failure), no proxy from the environment
/// (a proxy would resolve the name itself), bounded time; for [`Reach::PublicOnly`],
/// https only and a resolver that refuses private addresses.
fn build_client(reach: Reach) -> Option<reqwest::Client> {
    let builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .user_agent(concat!("careid/", env!("CARGO_PKG_VERSION")));
    let builder = match reach {
        Reach::PublicOnly => builder
            .https_only(true)
            .dns_resolver(Arc::new(PublicResolver)),
        Reach::PrivateNetwork => builder,
    };
    builder
        .build()
        .inspect_err(|err| {
            tracing::error!(%err, "no outbound HTTP client: client keys and back-channel logouts cannot be fetched or sent");
        })
        .ok()
}

impl Egress {
    pub(crate) fn new() -> Self {
        Self {
            public_only: OnceLock::new(),
            private_network: OnceLock::new(),
            permits: Arc::new(Semaphore::new(MAX_CONCURRENT)),
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// The client for `reach`, built the first time it is needed: building one loads
    /// the system's trusted certificates (tens of milliseconds with OpenSSL 3), which
    /// start-up should not wait for when most installations never call out.
    fn http(&self, reach: Reach) -> Option<&reqwest::Client> {
        let cell = match reach {
            Reach::PublicOnly => &self.public_only,
            Reach::PrivateNetwork => &self.private_network,
        };
        cell.get_or_init(|| build_client(reach)).as_ref()
    }

    /// GETs `url` and hands a body of at most `max_bytes` to `read`. A failure,
    /// including one of `read`, is remembered for [`FAILURE_TTL`] from `now`: until
    /// then the same URL fails at once, without a request.
    pub(crate) async fn get<T>(
        &self,
        url: &str,
        reach: Reach,
        accept: &'static str,
        max_bytes: usize,
        now: OffsetDateTime,
        read: impl FnOnce(&[u8]) -> Result<T, String>,
    ) -> Result<T, EgressError> {
        let key = (url.to_owned(), reach);
        if let Some(failure) = self.failures().get(&key).filter(|f| f.until > now) {
            return Err(EgressError::RecentlyFailed(
                failure.why.clone(),
                failure.until,
            ));
        }
        let outcome = async {
            let (response, _permit) = self
                .request(url, reach, |http, url| {
                    http.get(url).header(reqwest::header::ACCEPT, accept)
                })
                .await?;
            // The permit is held until the body is read.
            let body = read_body(response, max_bytes).await?;
            read(&body).map_err(EgressError::Unreadable)
        }
        .await;
        match &outcome {
            // Busy says nothing about the URL.
            Err(EgressError::Busy) => {}
            Err(err) => self.remember(key, err.to_string(), now),
            Ok(_) => {
                self.failures().remove(&key);
            }
        }
        outcome
    }

    /// POSTs `form` to `url`; `Ok` when the answer is 2xx. The body is not read.
    pub(crate) async fn post_form(
        &self,
        url: &str,
        reach: Reach,
        form: &[(&str, &str)],
    ) -> Result<(), EgressError> {
        self.request(url, reach, |http, url| {
            http.post(url)
                .header(reqwest::header::CACHE_CONTROL, "no-store")
                .form(form)
        })
        .await
        .map(drop)
    }

    /// Checks `url`, takes a permit and sends the request `build` makes. A response
    /// other than 2xx is an error; a 2xx one comes with the permit, for reading its body.
    async fn request(
        &self,
        url: &str,
        reach: Reach,
        build: impl FnOnce(&reqwest::Client, Url) -> reqwest::RequestBuilder,
    ) -> Result<(reqwest::Response, SemaphorePermit<'_>), EgressError> {
        let url = check_url(url, reach)?;
        let http = self
            .http(reach)
            .ok_or_else(|| EgressError::Failed("no outbound HTTP client".into()))?;
        let permit = self.permits.try_acquire().map_err(|_| EgressError::Busy)?;
        let response = build(http, url)
            .send()
            .await
            .map_err(|err| match refusal_in(&err) {
                Some(refusal) => EgressError::Refused(refusal.clone()),
                None => EgressError::Failed(describe(&err)),
            })?;
        if response.status().is_success() {
            Ok((response, permit))
        } else {
            Err(EgressError::Status(response.status()))
        }
    }

    fn failures(&self) -> std::sync::MutexGuard<'_, HashMap<(String, Reach), Failure>> {
        self.failures
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn remember(&self, key: (String, Reach), why: String, now: OffsetDateTime) {
        let mut failures = self.failures();
        if failures.len() >= MAX_REMEMBERED {
            failures.retain(|_, failure| failure.until > now);
        }
        if failures.len() < MAX_REMEMBERED || failures.contains_key(&key) {
            let until = now + FAILURE_TTL;
            failures.insert(key, Failure { why, until });
        }
    }
}

/// Reads the body in chunks, failing as soon as it passes `max_bytes`.
async fn read_body(
    mut response: reqwest::Response,
    max_bytes: usize,
) -> Result<Vec<u8>, EgressError> {
    if response
        .content_length()
        .is_some_and(|length| length > max_bytes as u64)
    {
        return Err(EgressError::TooLarge(max_bytes));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|err| EgressError::Failed(describe(&err)))?
    {
        if body.len() + chunk.len() > max_bytes {
            return Err(EgressError::TooLarge(max_bytes));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The policy refusal behind a failed request, if the resolver refused the name.
fn refusal_in(err: &reqwest::Error) -> Option<&Refusal> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(err) = source {
        if let Some(refusal) = err.downcast_ref::<Refusal>() {
            return Some(refusal);
        }
        source = err.source();
    }
    None
}

/// A reqwest error with its causes ("error sending request: connection refused").
fn describe(err: &reqwest::Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn range(ip: &str) -> Option<&'static str> {
        forbidden_range(ip.parse().unwrap())
    }

    #[test]
    fn each_special_ipv4_range_is_forbidden_at_both_ends() {
        for (first, last, what) in [
            ("0.0.0.0", "0.255.255.255", "unspecified"),
            ("10.0.0.0", "10.255.255.255", "private"),
            ("100.64.0.0", "100.127.255.255", "CGNAT"),
            ("127.0.0.0", "127.255.255.255", "loopback"),
            ("169.254.0.0", "169.254.255.255", "link-local"),
            ("172.16.0.0", "172.31.255.255", "private"),
            ("192.0.0.0", "192.0.0.255", "IETF"),
            ("192.0.2.0", "192.0.2.255", "documentation"),
            ("192.168.0.0", "192.168.255.255", "private"),
            ("198.18.0.0", "198.19.255.255", "benchmarking"),
            ("198.51.100.0", "198.51.100.255", "documentation"),
            ("203.0.113.0", "203.0.113.255", "documentation"),
            ("224.0.0.0", "239.255.255.255", "multicast"),
            ("240.0.0.0", "255.255.255.254", "reserved"),
        ] {
            for ip in [first, last] {
                let found = range(ip).unwrap_or_else(|| panic!("{ip} is allowed"));
                assert!(found.contains(what), "{ip}: {found}");
            }
        }
        assert_eq!(range("169.254.169.254"), Some("cloud metadata"));
        assert_eq!(range("255.255.255.255"), Some("broadcast"));
    }

    #[test]
    fn the_neighbours_of_the_special_ranges_are_public() {
        for ip in [
            "9.255.255.255",
            "11.0.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "126.255.255.255",
            "128.0.0.0",
            "169.253.255.255",
            "169.255.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.167.255.255",
            "192.169.0.0",
            "198.17.255.255",
            "198.20.0.0",
            "223.255.255.255",
            "1.1.1.1",
            "93.184.215.14",
        ] {
            assert_eq!(range(ip), None, "{ip}");
        }
    }

    #[test]
    fn each_special_ipv6_range_is_forbidden() {
        for (ip, what) in [
            ("::", "unspecified"),
            ("::1", "loopback"),
            ("::7f00:1", "IPv4-compatible"),
            ("100::1", "discard"),
            ("2001:db8::1", "documentation"),
            ("fc00::1", "unique local"),
            ("fdff:ffff::1", "unique local"),
            ("fd00:ec2::254", "cloud metadata"),
            ("fe80::1", "link-local"),
            ("febf:ffff::1", "link-local"),
            ("fec0::1", "site-local"),
            ("ff02::1", "multicast"),
            ("64:ff9b:1::1", "NAT64"),
            ("2001::1", "Teredo"),
            ("2001:10::1", "ORCHID"),
        ] {
            let found = range(ip).unwrap_or_else(|| panic!("{ip} is allowed"));
            assert!(found.contains(what), "{ip}: {found}");
        }
        for ip in ["2606:4700::1111", "2a00:1450:4001::1", "fbff::1", "ff::1"] {
            assert_eq!(range(ip), None, "{ip}");
        }
    }

    #[test]
    fn ipv6_forms_of_an_ipv4_address_are_judged_by_that_address() {
        for (ip, what) in [
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:10.1.2.3", "private"),
            ("::ffff:169.254.169.254", "cloud metadata"),
            ("::ffff:100.64.0.1", "CGNAT"),
            ("64:ff9b::7f00:1", "loopback"),
            ("64:ff9b::a9fe:a9fe", "cloud metadata"),
            ("2002:c0a8:0101::1", "private"),
            ("2002:7f00:1::", "loopback"),
        ] {
            let found = range(ip).unwrap_or_else(|| panic!("{ip} is allowed"));
            assert!(found.contains(what), "{ip}: {found}");
        }
        for ip in ["::ffff:1.1.1.1", "64:ff9b::101:101", "2002:101:101::1"] {
            assert_eq!(range(ip), None, "{ip}");
        }
    }

    fn is_special_v4(v4: Ipv4Addr) -> bool {
        let [a, b, c, _] = v4.octets();
        v4.is_private()
            || v4.is_loopback()
            || v4.is_link_local()
            || v4.is_unspecified()
            || v4.is_multicast()
            || v4.is_broadcast()
            || v4.is_documentation()
            || a == 0
            || a >= 240
            || (a == 100 && (64..128).contains(&b))
            || (a == 198 && (b == 18 || b == 19))
            || (a == 192 && b == 0 && c == 0)
            || (a == 192 && b == 88 && c == 99)
    }

    proptest! {
        #[test]
        fn an_ipv4_address_is_forbidden_exactly_when_the_standard_library_calls_it_special(
            bits in any::<u32>()
        ) {
            let v4 = Ipv4Addr::from(bits);
            prop_assert_eq!(range(&v4.to_string()).is_some(), is_special_v4(v4), "{}", v4);
        }

        #[test]
        fn an_ipv4_mapped_address_is_judged_as_its_ipv4_address(bits in any::<u32>()) {
            let v4 = Ipv4Addr::from(bits);
            let mapped = IpAddr::V6(v4.to_ipv6_mapped());
            prop_assert_eq!(forbidden_range(mapped), forbidden_range(IpAddr::V4(v4)));
        }

        #[test]
        fn every_unique_local_and_link_local_ipv6_address_is_forbidden(
            bits in any::<u128>()
        ) {
            let v6 = Ipv6Addr::from(bits);
            if v6.is_unique_local() || v6.is_unicast_link_local() || v6.is_multicast() {
                prop_assert!(forbidden_range(IpAddr::V6(v6)).is_some(), "{}", v6);
            }
        }
    }

    fn refusal(url: &str) -> String {
        check_url(url, Reach::PublicOnly).unwrap_err().0
    }

    #[test]
    fn a_public_only_url_is_https_on_port_443() {
        assert!(check_url("https://app.example/jwks", Reach::PublicOnly).is_ok());
        assert!(check_url("https://app.example:443/jwks", Reach::PublicOnly).is_ok());
        assert!(check_url("https://93.184.215.14/jwks", Reach::PublicOnly).is_ok());
        assert!(refusal("http://app.example/jwks").contains("https"));
        assert!(refusal("https://app.example:8443/jwks").contains("443"));
        assert!(refusal("ftp://app.example/jwks").contains("https"));
        assert!(refusal("https://user:pw@app.example/jwks").contains("password"));
        assert!(refusal("/jwks").contains("absolute"));
    }

    #[test]
    fn a_public_only_url_names_no_forbidden_address_or_localhost() {
        for url in [
            "https://127.0.0.1/",
            "https://2130706433/",
            "https://0x7f.1/",
            "https://[::1]/",
            "https://[::ffff:127.0.0.1]/",
            "https://169.254.169.254/latest/meta-data/",
            "https://[fd00:ec2::254]/",
            "https://10.0.0.5/",
            "https://0.0.0.0/",
        ] {
            assert!(refusal(url).contains("address"), "{url}");
        }
        for url in [
            "https://localhost/",
            "https://LOCALHOST./",
            "https://api.localhost/",
        ] {
            assert!(refusal(url).contains("localhost"), "{url}");
        }
    }

    #[test]
    fn a_private_network_url_may_be_http_on_any_port_and_address() {
        for url in [
            "http://127.0.0.1:9000/jwks",
            "http://localhost:3000/jwks",
            "https://10.0.0.5:8443/logout",
        ] {
            assert!(check_url(url, Reach::PrivateNetwork).is_ok(), "{url}");
        }
        assert!(check_url("ftp://127.0.0.1/", Reach::PrivateNetwork).is_err());
    }

    #[tokio::test]
    async fn the_resolver_refuses_a_name_with_a_loopback_address() {
        let refused = PublicResolver
            .resolve("localhost".parse().unwrap())
            .await
            .err()
            .expect("localhost is refused");
        let refusal = refused.downcast_ref::<Refusal>().expect("a refusal");
        assert!(refusal.0.contains("loopback"), "{refusal}");
    }

    #[tokio::test]
    async fn a_failed_get_is_remembered_for_its_ttl_and_then_tried_again() {
        let egress = Egress::new();
        let now = OffsetDateTime::UNIX_EPOCH;
        let get = |at| {
            egress.get(
                "https://127.0.0.1/jwks",
                Reach::PublicOnly,
                "application/json",
                1024,
                at,
                |_| Ok(()),
            )
        };
        assert!(matches!(get(now).await, Err(EgressError::Refused(_))));
        let within = get(now + FAILURE_TTL - time::Duration::SECOND).await;
        assert!(
            matches!(within, Err(EgressError::RecentlyFailed(..))),
            "{within:?}"
        );
        assert!(matches!(
            get(now + FAILURE_TTL).await,
            Err(EgressError::Refused(_))
        ));
    }

    #[tokio::test]
    async fn over_the_concurrency_cap_a_request_fails_at_once() {
        let egress = Egress::new();
        let _held = egress
            .permits
            .clone()
            .try_acquire_many_owned(MAX_CONCURRENT as u32)
            .unwrap();
        let outcome = egress
            .post_form("https://app.example/logout", Reach::PublicOnly, &[])
            .await;
        assert!(matches!(outcome, Err(EgressError::Busy)), "{outcome:?}");
    }
}
