//! Password rules: what a new password must satisfy, told to the person before they type
//! ([`PasswordRules::describe`]) and checked all at once after ([`check`]).
//!
//! The rules follow what users of care software already know: at least ten characters, a
//! digit, an uppercase letter, a punctuation mark or symbol, the two entries must match, and
//! the password must differ from the last five. Reuse needs the stored history, so it is
//! checked by the caller with [`crate::history::is_reused`], which reports
//! [`Violation::Reused`].

use serde::Deserialize;

use crate::history::HISTORY_DEPTH;
use crate::secret::PlainPassword;

/// The local part of an email shorter than this is too common a substring to forbid.
const MIN_EMAIL_NAME_CHARS: usize = 3;

/// Which rules a new password must satisfy. Read from configuration; every field that is
/// left out takes its default.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PasswordRules {
    /// The fewest characters (not bytes) a password may have. Default 10.
    pub min_length: usize,
    /// Whether a password needs at least one digit. Default true.
    pub require_digit: bool,
    /// Whether a password needs at least one uppercase letter. Default true.
    pub require_uppercase: bool,
    /// Whether a password needs at least one punctuation mark or symbol. Default true.
    pub require_symbol: bool,
    /// Whether the 100,000 passwords most seen in breaches are refused. Default true.
    pub forbid_common: bool,
    /// Whether a password may not contain the part of the email before the `@`. Default true.
    pub forbid_email_name: bool,
}

impl Default for PasswordRules {
    fn default() -> Self {
        Self {
            min_length: 10,
            require_digit: true,
            require_uppercase: true,
            require_symbol: true,
            forbid_common: true,
            forbid_email_name: true,
        }
    }
}

impl PasswordRules {
    /// The rules as sentences, to show on a page before the person types a new password.
    pub fn describe(&self) -> Vec<String> {
        self.describe_with_violations()
            .into_iter()
            .map(|(_, text)| text)
            .collect()
    }

    /// The rules as sentences, each with the violation it prevents, so a page can mark
    /// every line met or unmet by its [`Violation::code`].
    pub fn describe_with_violations(&self) -> Vec<(Violation, String)> {
        let mut lines = Vec::new();
        if self.min_length > 0 {
            let text = format!("Use at least {}.", characters(self.min_length));
            lines.push((
                Violation::TooShort {
                    min: self.min_length,
                },
                text,
            ));
        }
        if self.require_digit {
            let text = "Include at least one digit (0-9).".to_string();
            lines.push((Violation::NoDigit, text));
        }
        if self.require_uppercase {
            let text = "Include at least one uppercase letter.".to_string();
            lines.push((Violation::NoUppercase, text));
        }
        if self.require_symbol {
            let text =
                "Include at least one punctuation mark or symbol, such as ! # or ?.".to_string();
            lines.push((Violation::NoSymbol, text));
        }
        if self.forbid_common {
            let text = "Avoid passwords that many other people use.".to_string();
            lines.push((Violation::Common, text));
        }
        if self.forbid_email_name {
            let text = "Leave out the part of your email address before the @.".to_string();
            lines.push((Violation::ContainsEmailName, text));
        }
        let text = "Type the same password in both fields.".to_string();
        lines.push((Violation::Mismatch, text));
        lines
    }
}

/// One rule a proposed password breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Violation {
    /// Fewer characters than `min`.
    TooShort {
        /// The configured minimum length, in characters.
        min: usize,
    },
    /// No digit.
    NoDigit,
    /// No uppercase letter.
    NoUppercase,
    /// No punctuation mark or symbol.
    NoSymbol,
    /// The password and its confirmation differ.
    Mismatch,
    /// The password is on the common-password list.
    Common,
    /// The password contains the local part of the person's email address.
    ContainsEmailName,
    /// The password matches one of the last [`HISTORY_DEPTH`] passwords. Reported by
    /// callers after [`crate::history::is_reused`], never by [`check`].
    Reused,
}

impl Violation {
    /// A sentence telling the person what to change.
    pub fn message(&self) -> String {
        match self {
            Self::TooShort { min } => {
                format!("Your password must be at least {} long.", characters(*min))
            }
            Self::NoDigit => "Your password must include at least one digit (0-9).".to_string(),
            Self::NoUppercase => {
                "Your password must include at least one uppercase letter.".to_string()
            }
            Self::NoSymbol => {
                "Your password must include at least one punctuation mark or symbol, such as ! # or ?."
                    .to_string()
            }
            Self::Mismatch => "The two passwords you typed are not the same.".to_string(),
            Self::Common => {
                "This password is one that many other people use, so it is easy to guess. Choose another."
                    .to_string()
            }
            Self::ContainsEmailName => {
                "Your password must not contain the part of your email address before the @."
                    .to_string()
            }
            Self::Reused => format!(
                "You have used this password recently. Choose one that differs from your last {HISTORY_DEPTH} passwords."
            ),
        }
    }

    /// A stable machine-readable name, for logs, audit events and templates.
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooShort { .. } => "too_short",
            Self::NoDigit => "no_digit",
            Self::NoUppercase => "no_uppercase",
            Self::NoSymbol => "no_symbol",
            Self::Mismatch => "mismatch",
            Self::Common => "common",
            Self::ContainsEmailName => "contains_email_name",
            Self::Reused => "reused",
        }
    }
}

/// Checks a proposed password and its confirmation against `rules`, returning every rule
/// broken (empty when the password is acceptable), so the page can list them all at once.
///
/// `email` is the account's email; only its local part matters. Reuse is not checked here.
pub fn check(
    rules: &PasswordRules,
    password: &PlainPassword,
    confirmation: &PlainPassword,
    email: &str,
) -> Vec<Violation> {
    let text = password.as_str();
    let mut violations = Vec::new();
    if text.chars().count() < rules.min_length {
        violations.push(Violation::TooShort {
            min: rules.min_length,
        });
    }
    if rules.require_digit && !text.chars().any(is_digit) {
        violations.push(Violation::NoDigit);
    }
    if rules.require_uppercase && !text.chars().any(char::is_uppercase) {
        violations.push(Violation::NoUppercase);
    }
    if rules.require_symbol && !text.chars().any(is_symbol) {
        violations.push(Violation::NoSymbol);
    }
    if rules.forbid_common && is_common(text) {
        violations.push(Violation::Common);
    }
    if rules.forbid_email_name && contains_email_name(text, email) {
        violations.push(Violation::ContainsEmailName);
    }
    if text != confirmation.as_str() {
        violations.push(Violation::Mismatch);
    }
    violations
}

/// A digit is any numeral: 0-9, or another script's digits.
fn is_digit(c: char) -> bool {
    c.is_numeric()
}

/// A symbol is any visible character that is neither a letter, a numeral nor whitespace:
/// punctuation, currency, maths and so on. Control characters do not count.
fn is_symbol(c: char) -> bool {
    !c.is_alphanumeric() && !c.is_whitespace() && !c.is_control()
}

/// Whether the password is on the common-password list: the UK NCSC's 100,000 passwords
/// most often found in breaches (from Have I Been Pwned), shipped by the `passwords` crate.
/// The list is mostly lower case but keeps some entries as leaked, so both the lower-cased
/// and the typed form are looked up.
fn is_common(password: &str) -> bool {
    let lower = password.to_lowercase();
    passwords::analyzer::is_common_password(&lower)
        || (lower != password && passwords::analyzer::is_common_password(password))
}

/// Whether the password contains, in any case, the local part of `email`: the text before
/// the last `@`, or the whole string when there is none. Local parts shorter than three
/// characters are ignored.
fn contains_email_name(password: &str, email: &str) -> bool {
    let name = email
        .rsplit_once('@')
        .map_or(email, |(local, _)| local)
        .trim();
    if name.chars().count() < MIN_EMAIL_NAME_CHARS {
        return false;
    }
    password.to_lowercase().contains(&name.to_lowercase())
}

/// "10 characters", "1 character".
fn characters(count: usize) -> String {
    if count == 1 {
        "1 character".to_string()
    } else {
        format!("{count} characters")
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const EMAIL: &str = "m.okafor@clinic.example";

    fn violations(password: &str) -> Vec<Violation> {
        let password = PlainPassword::new(password);
        check(&PasswordRules::default(), &password, &password, EMAIL)
    }

    #[test]
    fn the_defaults_match_the_published_rules() {
        let rules = PasswordRules::default();
        assert_eq!(rules.min_length, 10);
        assert!(rules.require_digit && rules.require_uppercase && rules.require_symbol);
        assert!(rules.forbid_common && rules.forbid_email_name);
    }

    #[test]
    fn a_good_password_breaks_no_rule() {
        assert_eq!(violations("Tulip-Harbor-42"), vec![]);
    }

    #[test]
    fn a_password_of_ten_characters_is_long_enough() {
        assert_eq!(violations("Tulip-42xy"), vec![]);
    }

    #[test]
    fn a_password_of_nine_characters_is_too_short() {
        assert_eq!(
            violations("Tulip-42x"),
            vec![Violation::TooShort { min: 10 }]
        );
    }

    #[test]
    fn length_counts_characters_not_bytes() {
        // Ten characters, but more than ten bytes in UTF-8.
        assert_eq!(violations("Åsa-Ødegå9"), vec![]);
        assert_eq!(
            violations("Åsa-Ødeg9"),
            vec![Violation::TooShort { min: 10 }]
        );
    }

    #[test]
    fn a_password_without_a_digit_is_refused() {
        assert_eq!(violations("Tulip-Harbor"), vec![Violation::NoDigit]);
    }

    #[test]
    fn a_password_without_an_uppercase_letter_is_refused() {
        assert_eq!(violations("tulip-harbor-42"), vec![Violation::NoUppercase]);
    }

    #[test]
    fn a_password_without_a_symbol_is_refused() {
        assert_eq!(violations("TulipHarbor42"), vec![Violation::NoSymbol]);
    }

    #[test]
    fn a_space_is_not_a_symbol() {
        assert_eq!(violations("Tulip Harbor 42"), vec![Violation::NoSymbol]);
    }

    #[test]
    fn any_punctuation_or_symbol_character_counts() {
        for symbol in ['!', '#', '?', '.', '_', '€', '+', '~', '§'] {
            assert_eq!(
                violations(&format!("TulipHarbor42{symbol}")),
                vec![],
                "{symbol}"
            );
        }
    }

    #[test]
    fn a_confirmation_that_differs_is_a_mismatch() {
        let password = PlainPassword::new("Tulip-Harbor-42");
        let confirmation = PlainPassword::new("Tulip-Harbor-43");
        let found = check(&PasswordRules::default(), &password, &confirmation, EMAIL);
        assert_eq!(found, vec![Violation::Mismatch]);
    }

    #[test]
    fn a_common_password_is_refused_even_when_it_meets_every_other_rule() {
        assert_eq!(violations("Password1!"), vec![Violation::Common]);
        assert_eq!(violations("Password@123"), vec![Violation::Common]);
    }

    #[test]
    fn common_passwords_are_matched_regardless_of_case() {
        assert_eq!(violations("PASSWORD1!"), vec![Violation::Common]);
        assert_eq!(violations("pAsSwOrD@123"), vec![Violation::Common]);
        let common: Vec<_> = ["iloveyou", "ILOVEYOU", "Qwerty123", "LetMeIn", "FOOTBALL"]
            .into_iter()
            .filter(|p| is_common(p))
            .collect();
        assert_eq!(common.len(), 5);
    }

    #[test]
    fn an_uncommon_password_is_not_flagged_as_common() {
        assert!(!is_common("Tulip-Harbor-42"));
    }

    #[test]
    fn a_password_containing_the_email_name_is_refused() {
        assert_eq!(
            violations("Hi-M.Okafor-2024"),
            vec![Violation::ContainsEmailName]
        );
    }

    #[test]
    fn an_email_name_of_two_characters_is_ignored() {
        let password = PlainPassword::new("Tulip-JO-Harbor-42");
        let rules = PasswordRules::default();
        assert_eq!(
            check(&rules, &password, &password, "jo@clinic.example"),
            vec![]
        );
        assert_eq!(
            check(&rules, &password, &password, "tul@clinic.example"),
            vec![Violation::ContainsEmailName]
        );
    }

    #[test]
    fn all_broken_rules_are_listed_at_once() {
        let password = PlainPassword::new("password");
        let confirmation = PlainPassword::new("passwort");
        let found = check(
            &PasswordRules::default(),
            &password,
            &confirmation,
            "password@clinic.example",
        );
        assert_eq!(
            found,
            vec![
                Violation::TooShort { min: 10 },
                Violation::NoDigit,
                Violation::NoUppercase,
                Violation::NoSymbol,
                Violation::Common,
                Violation::ContainsEmailName,
                Violation::Mismatch,
            ]
        );
    }

    #[test]
    fn rules_that_are_switched_off_are_not_checked() {
        let rules = PasswordRules {
            min_length: 4,
            require_digit: false,
            require_uppercase: false,
            require_symbol: false,
            forbid_common: false,
            forbid_email_name: false,
        };
        let password = PlainPassword::new("password");
        assert_eq!(
            check(&rules, &password, &password, "password@x.example"),
            vec![]
        );
    }

    #[test]
    fn every_violation_has_a_message_and_a_distinct_code() {
        let all = [
            Violation::TooShort { min: 10 },
            Violation::NoDigit,
            Violation::NoUppercase,
            Violation::NoSymbol,
            Violation::Mismatch,
            Violation::Common,
            Violation::ContainsEmailName,
            Violation::Reused,
        ];
        let mut codes: Vec<_> = all.iter().map(Violation::code).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), all.len());
        for violation in all {
            assert!(violation.message().ends_with('.'), "{violation:?}");
        }
        assert!(
            Violation::TooShort { min: 10 }
                .message()
                .contains("10 characters")
        );
        assert!(Violation::Reused.message().contains("last 5 passwords"));
    }

    #[test]
    fn the_description_lists_every_rule_that_is_on() {
        let lines = PasswordRules::default().describe();
        assert_eq!(lines.len(), 7);
        assert_eq!(lines[0], "Use at least 10 characters.");
        let lines = PasswordRules {
            require_symbol: false,
            forbid_common: false,
            ..PasswordRules::default()
        }
        .describe();
        assert_eq!(lines.len(), 5);
        assert!(!lines.iter().any(|line| line.contains("symbol")));
    }

    #[test]
    fn rules_left_out_of_configuration_take_their_defaults() {
        let rules: PasswordRules = toml::from_str("min_length = 12").unwrap();
        assert_eq!(
            rules,
            PasswordRules {
                min_length: 12,
                ..PasswordRules::default()
            }
        );
    }

    /// The default rules without the common-password lookup, for property tests: in debug
    /// builds the `passwords` crate scans its list linearly (about 10 ms a lookup), and the
    /// lookup has its own unit tests above.
    fn rules_without_list() -> PasswordRules {
        PasswordRules {
            forbid_common: false,
            ..PasswordRules::default()
        }
    }

    proptest! {
        #[test]
        fn an_accepted_password_satisfies_every_rule(
            password in "[a-zA-Z0-9 !#%&*.,?_~-]{0,16}",
            name in "[a-z]{1,5}",
        ) {
            let email = format!("{name}@clinic.example");
            let typed = PlainPassword::new(password.clone());
            if check(&rules_without_list(), &typed, &typed, &email).is_empty() {
                prop_assert!(password.chars().count() >= 10);
                prop_assert!(password.chars().any(|c| c.is_ascii_digit()));
                prop_assert!(password.chars().any(|c| c.is_ascii_uppercase()));
                prop_assert!(password.chars().any(|c| c.is_ascii_punctuation()));
                prop_assert!(name.len() < 3 || !password.to_lowercase().contains(&name));
            }
        }

        #[test]
        fn each_broken_rule_is_reported_exactly_once(password in "\\PC{0,14}") {
            let typed = PlainPassword::new(password.clone());
            let found = check(&rules_without_list(), &typed, &typed, EMAIL);
            let mut expected = Vec::new();
            if password.chars().count() < 10 {
                expected.push(Violation::TooShort { min: 10 });
            }
            if !password.chars().any(char::is_numeric) {
                expected.push(Violation::NoDigit);
            }
            if !password.chars().any(char::is_uppercase) {
                expected.push(Violation::NoUppercase);
            }
            if !password.chars().any(is_symbol) {
                expected.push(Violation::NoSymbol);
            }
            if password.to_lowercase().contains("m.okafor") {
                expected.push(Violation::ContainsEmailName);
            }
            prop_assert_eq!(found, expected);
        }
    }
}
