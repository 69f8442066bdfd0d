//! How strong a new passphrase must be. A staff passphrase guards an identity file that anyone
//! who copies the vault can attack offline, and a package passphrase guards a client's file
//! in transit: both must resist guessing, not only a policy of character classes.

use secrecy::{ExposeSecret, SecretString};

/// Fewest characters (not bytes: Chinese counts one per character) in a new passphrase.
pub const MIN_CHARS: usize = 10;
/// Lowest zxcvbn score accepted: 3 means about 10^10 guesses or more.
pub const MIN_SCORE: u8 = 3;

/// Why a new passphrase is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Weakness {
    /// Fewer than [`MIN_CHARS`] characters.
    TooShort { chars: usize },
    /// Long enough, but made of common words, names, dates, keyboard runs or repeats.
    Guessable,
}

/// Checks a new passphrase; `context` holds words an attacker would try first (the staff
/// name, the agency), which count against it.
pub fn check(pass: &SecretString, context: &[&str]) -> Result<(), Weakness> {
    let p = pass.expose_secret();
    let chars = p.chars().count();
    if chars < MIN_CHARS {
        return Err(Weakness::TooShort { chars });
    }
    let score = zxcvbn::zxcvbn(p, context).score() as u8;
    if score < MIN_SCORE {
        return Err(Weakness::Guessable);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(p: &str) -> bool {
        check(&SecretString::from(p), &["admin"]).is_ok()
    }

    #[test]
    fn short_and_common_are_refused() {
        for p in [
            "1",
            "password",
            "12345678",
            "阳光社工",
            "password123",
            "adminadmin1",
        ] {
            assert!(!ok(p), "{p} should be refused");
        }
        assert_eq!(
            check(&SecretString::from("阳光社工"), &[]),
            Err(Weakness::TooShort { chars: 4 })
        );
    }

    #[test]
    fn unrelated_words_pass() {
        assert!(ok("amber kettle orbit lantern"));
        assert!(ok("蓝色台灯跑步汤圆十七号楼梯"));
    }
}
