//! The scenarios: what one worker does once before the clock starts (sign in, get
//! tokens) and then over and over until it stops. Each operation is one request, or
//! one whole flow for the code flows.

use serde::Serialize;

use crate::{
    BenchError,
    browser::{Browser, ErrorSample, Person},
    cookies::CookieJar,
};

/// A hot path of careid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scenario {
    /// `GET /.well-known/openid-configuration`.
    Discovery,
    /// `GET /jwks`.
    Jwks,
    /// `POST /token` with `grant_type=client_credentials`.
    ClientCredentials,
    /// A whole code flow with a password sign-in, in a fresh browser every time.
    CodeFlow,
    /// A whole code flow on an existing careid session: no password asked.
    SsoCodeFlow,
    /// `POST /token` with `grant_type=refresh_token`, rotating the worker's own chain.
    Refresh,
    /// `GET /userinfo` with an access token obtained before the clock starts.
    Userinfo,
    /// `POST /introspect` of an access token obtained before the clock starts.
    Introspect,
}

impl Scenario {
    /// Every scenario, in the order `all` runs them.
    pub const ALL: [Self; 8] = [
        Self::Discovery,
        Self::Jwks,
        Self::ClientCredentials,
        Self::CodeFlow,
        Self::SsoCodeFlow,
        Self::Refresh,
        Self::Userinfo,
        Self::Introspect,
    ];

    /// The name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Discovery => "discovery",
            Self::Jwks => "jwks",
            Self::ClientCredentials => "client_credentials",
            Self::CodeFlow => "code_flow",
            Self::SsoCodeFlow => "sso_code_flow",
            Self::Refresh => "refresh",
            Self::Userinfo => "userinfo",
            Self::Introspect => "introspect",
        }
    }

    /// The scenarios `names` choose, in the order given: names separated by spaces or
    /// commas, `all` for every one. Nothing chosen means all.
    pub fn parse_list<S: AsRef<str>>(names: &[S]) -> Result<Vec<Self>, BenchError> {
        let mut chosen = Vec::new();
        for name in names
            .iter()
            .flat_map(|n| n.as_ref().split([',', ' ']))
            .filter(|n| !n.is_empty())
        {
            let found: Vec<Self> = if name == "all" {
                Self::ALL.to_vec()
            } else {
                let one = Self::ALL
                    .into_iter()
                    .find(|s| s.name() == name)
                    .ok_or_else(|| {
                        BenchError::UnknownScenario(
                            name.to_owned(),
                            Self::ALL.map(Self::name).join(", ") + ", all",
                        )
                    })?;
                vec![one]
            };
            for scenario in found {
                if !chosen.contains(&scenario) {
                    chosen.push(scenario);
                }
            }
        }
        Ok(if chosen.is_empty() {
            Self::ALL.to_vec()
        } else {
            chosen
        })
    }

    /// Whether each worker signs in as its own account.
    pub(crate) fn needs_account(self) -> bool {
        matches!(
            self,
            Self::CodeFlow | Self::SsoCodeFlow | Self::Refresh | Self::Userinfo | Self::Introspect
        )
    }
}

/// What a worker carries from one operation to the next.
pub(crate) enum Worker {
    /// Nothing: the operation needs no state.
    Stateless,
    /// A careid session (its cookies), for SSO flows and to restart a refresh chain.
    Session(CookieJar),
    /// The newest refresh token of the worker's chain, and the session that began it.
    Chain { jar: CookieJar, token: String },
    /// An access token.
    Token(String),
}

/// Gets a worker ready for `scenario`: signs `person` in where the scenario needs it.
pub(crate) async fn prepare(
    scenario: Scenario,
    browser: &Browser,
    person: Option<&Person>,
) -> Result<Worker, ErrorSample> {
    if !scenario.needs_account() {
        return Ok(Worker::Stateless);
    }
    if scenario == Scenario::CodeFlow {
        return Ok(Worker::Stateless);
    }
    let mut jar = CookieJar::default();
    let tokens = browser.code_flow(&mut jar, person).await?;
    Ok(match scenario {
        Scenario::SsoCodeFlow => Worker::Session(jar),
        Scenario::Refresh => match tokens.refresh_token {
            Some(token) => Worker::Chain { jar, token },
            None => {
                return Err(ErrorSample {
                    step: "POST /token (authorization_code)".into(),
                    status: Some(200),
                    body: "no refresh_token: the client may not use the refresh_token grant".into(),
                    count: 1,
                });
            }
        },
        _ => Worker::Token(tokens.access_token),
    })
}

/// One operation of `scenario`.
pub(crate) async fn step(
    scenario: Scenario,
    browser: &Browser,
    worker: &mut Worker,
    person: Option<&Person>,
) -> Result<(), ErrorSample> {
    match (scenario, worker) {
        (Scenario::Discovery, _) => browser.fetch("/.well-known/openid-configuration").await,
        (Scenario::Jwks, _) => browser.fetch("/jwks").await,
        (Scenario::ClientCredentials, _) => browser.client_credentials().await,
        (Scenario::CodeFlow, _) => {
            // A fresh browser: no session, so careid asks for the password every time.
            let mut jar = CookieJar::default();
            browser.code_flow(&mut jar, person).await.map(drop)
        }
        (Scenario::SsoCodeFlow, Worker::Session(jar)) => {
            browser.code_flow(jar, None).await.map(drop)
        }
        (Scenario::Refresh, Worker::Chain { jar, token }) => match browser.refresh(token).await {
            Ok(tokens) => {
                if let Some(next) = tokens.refresh_token {
                    *token = next;
                }
                Ok(())
            }
            Err(err) => {
                // The chain may be broken (rotated before the failure, or revoked as a
                // reuse): start a new one from the session. The failure is what counts;
                // the restart is not an operation of its own.
                if let Ok(tokens) = browser.code_flow(jar, None).await
                    && let Some(fresh) = tokens.refresh_token
                {
                    *token = fresh;
                }
                Err(err)
            }
        },
        (Scenario::Userinfo, Worker::Token(access)) => browser.userinfo(access).await,
        (Scenario::Introspect, Worker::Token(access)) => browser.introspect(access).await,
        (scenario, _) => Err(ErrorSample {
            step: scenario.name().into(),
            status: None,
            body: "worker was not prepared for this scenario".into(),
            count: 1,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_expands_and_duplicates_are_dropped() {
        assert_eq!(Scenario::parse_list(&["all"]).unwrap(), Scenario::ALL);
        assert_eq!(Scenario::parse_list::<&str>(&[]).unwrap(), Scenario::ALL);
        assert_eq!(
            Scenario::parse_list(&["refresh,jwks", "refresh"]).unwrap(),
            [Scenario::Refresh, Scenario::Jwks]
        );
    }

    #[test]
    fn an_unknown_scenario_is_named_in_the_error() {
        let err = Scenario::parse_list(&["jwks", "login"]).unwrap_err();
        assert!(err.to_string().contains("\"login\""), "{err}");
        assert!(err.to_string().contains("sso_code_flow"), "{err}");
    }
}
