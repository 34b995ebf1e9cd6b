//! Webhook signatures in the Standard Webhooks way (the scheme Svix and others use).
//!
//! Contract: the signed content is `{webhook-id}.{webhook-timestamp}.{body}`; the
//! signature is `v1,` + base64(HMAC-SHA256(key, content)). The key is the secret's
//! bytes: base64 after a `whsec_` prefix, else the secret's UTF-8 bytes. [`sign`] gives
//! the three headers' values; [`verify`] accepts a `webhook-signature` header holding one
//! or more space-separated signatures (key rotation) when any matches, compared in
//! constant time, and the timestamp is within `tolerance` of `now` (replay protection).
//!
//! ```
//! use segstream_activation::signature::sign;
//! let signature = sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, br#"{"test": 2432232314}"#);
//! assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
//! ```

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The `webhook-id` header.
pub const ID_HEADER: &str = "webhook-id";
/// The `webhook-timestamp` header (seconds since the epoch).
pub const TIMESTAMP_HEADER: &str = "webhook-timestamp";
/// The `webhook-signature` header.
pub const SIGNATURE_HEADER: &str = "webhook-signature";

fn key_bytes(secret: &str) -> Vec<u8> {
    match secret.strip_prefix("whsec_").map(|b64| STANDARD.decode(b64)) {
        Some(Ok(bytes)) => bytes,
        _ => secret.as_bytes().to_vec(),
    }
}

fn mac(secret: &str, id: &str, timestamp: u64, body: &[u8]) -> HmacSha256 {
    // HMAC accepts a key of any length; `new_from_slice` cannot fail for it.
    let mut mac = match HmacSha256::new_from_slice(&key_bytes(secret)) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The `webhook-signature` value for a message.
pub fn sign(secret: &str, id: &str, timestamp: u64, body: &[u8]) -> String {
    format!("v1,{}", STANDARD.encode(mac(secret, id, timestamp, body).finalize().into_bytes()))
}

/// Why a signature was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The timestamp is too far from now.
    #[error("the timestamp is {0} s away from now, outside the tolerance")]
    Stale(u64),
    /// No signature matches.
    #[error("no signature matches")]
    Mismatch,
}

/// Checks a message's signature header (see the module contract).
pub fn verify(
    secret: &str,
    id: &str,
    timestamp: u64,
    body: &[u8],
    signatures: &str,
    now_seconds: u64,
    tolerance_seconds: u64,
) -> Result<(), SignatureError> {
    let skew = now_seconds.abs_diff(timestamp);
    if skew > tolerance_seconds {
        return Err(SignatureError::Stale(skew));
    }
    let matches = signatures.split(' ').filter_map(|s| s.strip_prefix("v1,")).any(|encoded| {
        STANDARD
            .decode(encoded)
            .is_ok_and(|expected| mac(secret, id, timestamp, body).verify_slice(&expected).is_ok())
    });
    if matches {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TS: u64 = 1614265330;
    const BODY: &[u8] = br#"{"test": 2432232314}"#;

    #[test]
    fn the_standard_webhooks_test_vector_verifies_and_tampering_does_not() {
        let good = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
        assert_eq!(verify(SECRET, ID, TS, BODY, good, TS + 10, 300), Ok(()));
        assert_eq!(
            verify(SECRET, ID, TS, BODY, &format!("v1,bm90IGl0 {good}"), TS, 300),
            Ok(()),
            "rotation"
        );
        assert_eq!(
            verify(SECRET, ID, TS, br#"{"test": 1}"#, good, TS, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(verify(SECRET, "msg_other", TS, BODY, good, TS, 300), Err(SignatureError::Mismatch));
        assert_eq!(verify(SECRET, ID, TS, BODY, good, TS + 301, 300), Err(SignatureError::Stale(301)));
        assert_eq!(verify(SECRET, ID, TS, BODY, "v2,abc", TS, 300), Err(SignatureError::Mismatch));
    }

    #[test]
    fn a_plain_secret_is_used_as_bytes() {
        let signature = sign("plain", ID, TS, BODY);
        assert_eq!(verify("plain", ID, TS, BODY, &signature, TS, 300), Ok(()));
        assert_eq!(verify("other", ID, TS, BODY, &signature, TS, 300), Err(SignatureError::Mismatch));
    }
}
