//! A user's identifier as one partner wants it: normalised, then hashed.
//!
//! Contract: [`Normalisation`] follows the partners' published rules — a mobile
//! advertising id (`madid`) is trimmed and lowercased (IDFA/AAID hex with dashes); an
//! e-mail is trimmed and lowercased; a phone number keeps its digits only (country code
//! included, no `+`); `none` keeps the value as it is. [`Hashing::Sha256`] is SHA-256 of
//! the normalised UTF-8 text as lowercase hex. [`identify`] applies both; a value that
//! normalises to nothing (an e-mail without `@`, a phone without digits, a blank id) is
//! `None`, and the change is dead-lettered with that reason rather than sent.
//!
//! ```
//! use segstream_activation::identity::{identify, Hashing, Normalisation};
//! let id = identify(" Test@Example.COM ", Normalisation::Email, Hashing::Sha256).unwrap();
//! assert_eq!(id, "973dfe463ec85785f5f95af5ba3906eedb2d931c24e69824a89ea65dba4e813b");
//! ```

use sha2::{Digest, Sha256};

/// How an identifier is normalised before hashing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Normalisation {
    /// As it is.
    None,
    /// A mobile advertising id: trimmed, lowercased.
    Madid,
    /// An e-mail address: trimmed, lowercased.
    Email,
    /// A phone number: digits only.
    Phone,
}

impl Normalisation {
    /// From its name in the partners file.
    pub fn parse(text: &str) -> Option<Normalisation> {
        Some(match text {
            "none" => Normalisation::None,
            "madid" => Normalisation::Madid,
            "email" => Normalisation::Email,
            "phone" => Normalisation::Phone,
            _ => return None,
        })
    }

    /// The normalised value, or `None` if nothing usable is left.
    pub fn apply(self, value: &str) -> Option<String> {
        let normalised = match self {
            Normalisation::None => value.to_string(),
            Normalisation::Madid => value.trim().to_ascii_lowercase(),
            Normalisation::Email => {
                let email = value.trim().to_lowercase();
                if !email.contains('@') {
                    return None;
                }
                email
            }
            Normalisation::Phone => value.chars().filter(char::is_ascii_digit).collect(),
        };
        (!normalised.trim().is_empty()).then_some(normalised)
    }
}

/// How a normalised identifier is hashed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hashing {
    /// Sent as it is.
    None,
    /// SHA-256, lowercase hex.
    Sha256,
}

impl Hashing {
    /// From its name in the partners file.
    pub fn parse(text: &str) -> Option<Hashing> {
        Some(match text {
            "none" => Hashing::None,
            "sha256" => Hashing::Sha256,
            _ => return None,
        })
    }

    /// The hashed value.
    pub fn apply(self, value: &str) -> String {
        match self {
            Hashing::None => value.to_string(),
            Hashing::Sha256 => sha256_hex(value.as_bytes()),
        }
    }
}

/// SHA-256 as lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Lowercase hex of `bytes` (a table lookup per nibble: `format!` per byte was 5 % of
/// the activator's profile).
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    out
}

/// The identifier a partner gets for `value` (see the module contract).
pub fn identify(value: &str, normalise: Normalisation, hash: Hashing) -> Option<String> {
    normalise.apply(value).map(|v| hash.apply(&v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_matches_the_fips_180_2_vector() {
        // FIPS 180-2, appendix B.1: SHA-256("abc").
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn normalisation_follows_each_partner_rule() {
        assert_eq!(
            identify(" 6D92078A-8246-4BA4-AE5B-76104861E7DC ", Normalisation::Madid, Hashing::None).as_deref(),
            Some("6d92078a-8246-4ba4-ae5b-76104861e7dc")
        );
        assert_eq!(
            identify("6D92078A-8246-4BA4-AE5B-76104861E7DC", Normalisation::Madid, Hashing::Sha256).as_deref(),
            Some("31b806b4deec8c4cb1ffb18b9ab4ee1fa82a2b30e1f47902f04d03f5db023376")
        );
        assert_eq!(
            identify("+1 (555) 123-4567", Normalisation::Phone, Hashing::Sha256).as_deref(),
            Some("d6736136ea896c1bfdc553e0e86e702c70d060d805696ca3e4e9e0961353860a")
        );
        assert_eq!(identify("not an email", Normalisation::Email, Hashing::Sha256), None);
        assert_eq!(identify("()-", Normalisation::Phone, Hashing::None), None);
        assert_eq!(identify("  ", Normalisation::Madid, Hashing::None), None);
        assert_eq!(identify("u1", Normalisation::None, Hashing::None).as_deref(), Some("u1"));
    }
}
