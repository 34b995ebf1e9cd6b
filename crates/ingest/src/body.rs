//! Reading request bodies: size limit, gzip, JSON with the parse position.
//!
//! Contract: [`read_body`] inflates a gzip body (`Content-Encoding: gzip`) with the
//! request limit applied to the inflated size as well (a small bomb cannot expand past
//! it), and [`parse_documents`] parses a JSON document — or, when `ndjson` is set, one
//! document per non-empty line — reporting malformed input with its line and column.
//! The documents borrow the body: they are checked JSON, not yet copied or built into
//! values. Never panics on any input.

use std::borrow::Cow;
use std::io::Read;

use serde_json::value::RawValue;

/// Why a body was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// Larger than the request limit (HTTP 413).
    #[error("the request body is larger than {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: usize,
    },
    /// Not valid gzip, or not JSON (HTTP 400).
    #[error("{0}")]
    Malformed(String),
    /// JSON, but not the shape the API takes (HTTP 400).
    #[error("{0}")]
    Shape(String),
}

/// A JSON error at `line` of the body (1 for a whole document), with its position.
pub(crate) fn malformed(line: usize, e: &serde_json::Error) -> BodyError {
    BodyError::Malformed(format!(
        "malformed JSON at line {}, column {}: {e}",
        line + e.line() - 1,
        e.column()
    ))
}

/// The body, inflated if `gzip` (else borrowed as it is), at most `limit` bytes either way.
pub fn read_body(raw: &[u8], gzip: bool, limit: usize) -> Result<Cow<'_, [u8]>, BodyError> {
    if raw.len() > limit {
        return Err(BodyError::TooLarge { limit });
    }
    if !gzip {
        return Ok(Cow::Borrowed(raw));
    }
    let mut inflated = Vec::new();
    flate2::read::GzDecoder::new(raw)
        .take(limit as u64 + 1)
        .read_to_end(&mut inflated)
        .map_err(|e| BodyError::Malformed(format!("invalid gzip body: {e}")))?;
    if inflated.len() > limit {
        return Err(BodyError::TooLarge { limit });
    }
    Ok(Cow::Owned(inflated))
}

/// The JSON documents of a body, borrowed from it.
pub fn parse_documents(body: &[u8], ndjson: bool) -> Result<Vec<&RawValue>, BodyError> {
    if !ndjson {
        return serde_json::from_slice::<&RawValue>(body)
            .map(|v| vec![v])
            .map_err(|e| malformed(1, &e));
    }
    body.split(|b| *b == b'\n')
        .enumerate()
        .filter(|(_, line)| !line.iter().all(u8::is_ascii_whitespace))
        .map(|(number, line)| serde_json::from_slice::<&RawValue>(line).map_err(|e| malformed(number + 1, &e)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn limits_apply_before_and_after_inflating() {
        assert_eq!(read_body(&[b' '; 11], false, 10), Err(BodyError::TooLarge { limit: 10 }));
        let bomb = gzip(&vec![b' '; 100_000]);
        assert!(bomb.len() < 1_000);
        assert_eq!(read_body(&bomb, true, 1_000), Err(BodyError::TooLarge { limit: 1_000 }));
        assert_eq!(read_body(&gzip(b"{}"), true, 1_000).unwrap().as_ref(), b"{}");
        assert!(matches!(read_body(b"not gzip", true, 1_000), Err(BodyError::Malformed(m)) if m.contains("gzip")));
    }

    #[test]
    fn malformed_json_reports_its_position() {
        let err = parse_documents(b"{\"a\": 1,\n \"b\": }", false).unwrap_err();
        assert!(err.to_string().contains("line 2, column"), "{err}");
        let err = parse_documents(b"{}\n\n{\"a\": tru}\n", true).unwrap_err();
        assert!(err.to_string().contains("line 3"), "{err}");
        let documents = parse_documents(b"{}\n  \n[1]\n", true).unwrap();
        assert_eq!(documents.iter().map(|d| d.get()).collect::<Vec<_>>(), ["{}", "[1]"]);
        assert!(parse_documents(b"{} {}", false).is_err(), "one document, not two");
    }
}
