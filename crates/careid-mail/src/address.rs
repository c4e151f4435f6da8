//! Whether a string is an email address careid could send to: lettre's own parser (RFC
//! 5321/5322 syntax), the one careid uses to build every message, so an address accepted
//! here is one a message can be addressed to. Deliverability is the mail's test.

/// Whether `email` is a syntactically valid address (`local@domain`).
pub fn is_valid_address(email: &str) -> bool {
    email.parse::<lettre::Address>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ordinary_address_is_valid() {
        for email in ["ada@clinic.example", "ada.okafor+crm@mail.clinic.example"] {
            assert!(is_valid_address(email), "{email}");
        }
    }

    #[test]
    fn a_string_that_cannot_address_a_message_is_not() {
        for email in [
            "",
            "ada",
            "ada@",
            "@clinic.example",
            "ada okafor@clinic.example",
            "ada@clinic example",
            "ada@@clinic.example",
            "ada@clinic.example\r\nBcc: eve@evil.example",
        ] {
            assert!(!is_valid_address(email), "{email:?}");
        }
    }
}
