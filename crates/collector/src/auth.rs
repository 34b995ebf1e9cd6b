//! Write keys: who may send events.
//!
//! Contract: a request carries a write key as HTTP Basic credentials with the key as
//! the user name (as Segment's SDKs send it) or as a bearer token. [`WriteKeys::check`]
//! compares it with every configured key in time independent of where they differ, so
//! response times do not leak a key. No configured key means authentication is off
//! (for local runs), which the collector reports at start.

use base64::Engine as _;

/// The accepted write keys.
#[derive(Clone, Debug, Default)]
pub struct WriteKeys {
    keys: Vec<Vec<u8>>,
}

/// Equal in time that depends only on the lengths.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl WriteKeys {
    /// The keys (empty: no authentication).
    pub fn new(keys: &[String]) -> WriteKeys {
        WriteKeys {
            keys: keys.iter().map(|k| k.as_bytes().to_vec()).collect(),
        }
    }

    /// Whether authentication is on.
    pub fn enabled(&self) -> bool {
        !self.keys.is_empty()
    }

    /// The key presented in an `Authorization` header value, if well formed.
    pub fn presented(header: &str) -> Option<Vec<u8>> {
        let (scheme, value) = header.trim().split_once(' ')?;
        if scheme.eq_ignore_ascii_case("bearer") {
            return Some(value.trim().as_bytes().to_vec());
        }
        if scheme.eq_ignore_ascii_case("basic") {
            let decoded = base64::engine::general_purpose::STANDARD.decode(value.trim()).ok()?;
            let user = decoded.split(|b| *b == b':').next()?;
            return Some(user.to_vec());
        }
        None
    }

    /// Whether the `Authorization` header (if any) carries an accepted key.
    pub fn check(&self, header: Option<&str>) -> bool {
        if !self.enabled() {
            return true;
        }
        let Some(key) = header.and_then(WriteKeys::presented) else {
            return false;
        };
        // Every key is compared, so the time does not depend on which one matched.
        self.keys.iter().fold(false, |found, k| constant_time_eq(k, &key) | found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_with_the_key_as_user_name_and_bearer_are_accepted() {
        let keys = WriteKeys::new(&["wk_live_1".to_string()]);
        let basic = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("wk_live_1:"));
        assert!(keys.check(Some(&basic)));
        assert!(keys.check(Some("Bearer wk_live_1")));
        assert!(!keys.check(Some("Bearer wk_live_2")));
        assert!(!keys.check(Some("Basic !!!")));
        assert!(!keys.check(None));
        assert!(WriteKeys::new(&[]).check(None), "no keys: authentication off");
    }

    #[test]
    fn comparison_needs_equal_lengths_and_bytes() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
