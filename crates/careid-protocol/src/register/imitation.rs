//! Names that imitate the practice's own applications. A registered app's name is shown
//! on careid's sign-in and consent pages, so "CarePortals CRM" (or "Care Portals CRM",
//! "CarePortaIs CRM", "Сareportals CRM" with a Cyrillic С, "CarePortals CRM Login") from a
//! third party would borrow the trust people give the practice's CRM. Registration
//! compares each name's *skeleton* with the names of the client files (and careid's own)
//! and refuses a match with `invalid_client_metadata`.
//!
//! The skeleton follows the idea of UTS #39 §4 (confusable detection) for the cases that
//! matter in a Latin-script product name: compatibility decomposition with accents
//! dropped (NFKD), lower case, common Cyrillic and Greek look-alikes and digits read as
//! the Latin letters they resemble, `rn` as `m` and `vv` as `w`, and everything that is
//! not a letter or digit (spaces, punctuation, invisible characters) left out.

use unicode_normalization::{UnicodeNormalization, char::is_combining_mark};

/// The Latin letter a character is commonly passed off as, if any.
fn look_alike(c: char) -> Option<char> {
    Some(match c {
        // Digits and signs read as letters.
        '0' => 'o',
        '1' | '|' | '!' | 'i' => 'l',
        '3' => 'e',
        '4' | '@' => 'a',
        '5' | '$' => 's',
        '7' => 't',
        '8' => 'b',
        '9' => 'g',
        // Cyrillic.
        'а' => 'a',
        'в' => 'b',
        'с' => 'c',
        'ԁ' => 'd',
        'е' | 'ё' => 'e',
        'һ' | 'н' => 'h',
        'і' | 'ї' | 'ӏ' => 'l',
        'ј' => 'j',
        'к' => 'k',
        'м' => 'm',
        'п' => 'n',
        'о' => 'o',
        'р' => 'p',
        'ԛ' => 'q',
        'г' => 'r',
        'ѕ' => 's',
        'т' => 't',
        'и' | 'ц' => 'u',
        'ѵ' => 'v',
        'ԝ' | 'ш' => 'w',
        'х' => 'x',
        'у' => 'y',
        // Greek.
        'α' => 'a',
        'β' => 'b',
        'ε' => 'e',
        'η' => 'n',
        'ι' => 'l',
        'κ' => 'k',
        'ν' => 'v',
        'ο' => 'o',
        'ρ' => 'p',
        'τ' => 't',
        'υ' => 'u',
        'χ' => 'x',
        'γ' => 'y',
        'ω' => 'w',
        c if c.is_ascii_alphanumeric() => c,
        _ => return None,
    })
}

/// What a name looks like once case, spacing, accents and look-alikes are ignored.
pub(crate) fn skeleton(name: &str) -> String {
    let letters: String = name
        .nfkd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .filter_map(look_alike)
        .collect();
    letters.replace("rn", "m").replace("vv", "w")
}

/// Whether `name` imitates `protected`: the same skeleton, or, for a protected name long
/// enough to be distinctive, one that contains it ("CarePortals CRM Login").
pub(crate) fn imitates(name: &str, protected: &str) -> bool {
    let name = skeleton(name);
    let protected = skeleton(protected);
    !protected.is_empty()
        && (name == protected || (protected.len() >= 6 && name.contains(&protected)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_spacing_accents_digits_and_foreign_look_alikes_are_ignored() {
        for copy in [
            "CarePortals CRM",
            "careportals crm",
            "Care Portals  CRM",
            "CarePortaIs CRM",
            "C4rePort4ls CRM",
            "Cáre Pórtals CRM",
            "\u{421}arePortals CRM",
            "CarePortals\u{200b}CRM",
            "Care-Portals C.R.M.",
            "ＣａｒｅＰｏｒｔａｌｓ ＣＲＭ",
            "CarePortals CRM Login",
            "CarePortaIs CRM (official)",
        ] {
            assert!(imitates(copy, "CarePortals CRM"), "{copy}");
        }
    }

    #[test]
    fn different_names_pass() {
        for other in ["Wellness Diary", "CarePortals", "Portal for Care", "CRM"] {
            assert!(!imitates(other, "CarePortals CRM"), "{other}");
        }
        assert!(
            !imitates("Diary", ""),
            "an empty protected name protects nothing"
        );
    }

    #[test]
    fn short_protected_names_are_matched_whole_only() {
        assert!(imitates("E.M.R", "EMR"));
        assert!(!imitates("My EMR notes", "EMR"));
    }
}
