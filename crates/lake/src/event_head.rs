//! The four fields of an event object the raw table indexes, found in one pass without
//! building the rest of the payload.
//!
//! Contract: [`scan`] walks a payload's top-level JSON object and returns its `id`,
//! `user` and `type` (strings) and `time` (epoch milliseconds, or RFC 3339 text) exactly
//! as serde_json deserialising [`EventHead`] would: a field missing or `null` is
//! `None`, and a payload that is not an object, or whose head field has another type,
//! or repeats one, has no head at all. Other values are skipped by their brackets and
//! quotes, not decoded. Whenever a head key or value carries an escape, the scanner
//! hands the payload to serde_json instead, so escapes are decoded by serde_json only.
//! One difference is deliberate: malformed JSON *inside a skipped value* (say
//! `"properties":{"a":tru}`) is not noticed, so such a payload keeps its head where
//! serde_json would give none — the head columns index the raw record, they do not
//! judge it (the classifier's decoder does, on replay as live).
//!
//! Why a scanner of our own: on the game's event mix (228 bytes a record) serde_json
//! took 1.0 µs a record to deserialise the head (it tokenises every skipped value),
//! about 45 % of a raw commit; this scanner takes a fraction of that (numbers in
//! `docs/benchmarks.md`, "Lake writer"). A property test checks it against serde_json
//! on generated JSON.
//!
//! ```
//! use segstream_lake::event_head::{scan, Time};
//! let head = scan(br#"{"id":"e1","properties":{"x":[1,{"user":"no"}]},"time":5,"user":"u1"}"#).unwrap();
//! assert_eq!((head.id.as_deref(), head.user.as_deref(), head.time), (Some("e1"), Some("u1"), Some(Time::Millis(5))));
//! assert!(scan(b"[1,2]").is_none());
//! assert!(scan(br#"{"user":5}"#).is_none(), "a head field of another type: no head");
//! ```

use std::borrow::Cow;

use serde::Deserialize;

/// An event's time: epoch milliseconds or RFC 3339 text.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Time<'a> {
    /// Epoch milliseconds.
    Millis(i64),
    /// RFC 3339 text.
    #[serde(borrow)]
    Text(Cow<'a, str>),
}

/// The fields of an event object the raw table indexes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct EventHead<'a> {
    /// `id`.
    #[serde(borrow)]
    pub id: Option<Cow<'a, str>>,
    /// `user`.
    #[serde(borrow)]
    pub user: Option<Cow<'a, str>>,
    /// `type`.
    #[serde(borrow, rename = "type")]
    pub event_type: Option<Cow<'a, str>>,
    /// `time`.
    #[serde(borrow)]
    pub time: Option<Time<'a>>,
}

/// The head of `payload` (see the module contract).
pub fn scan(payload: &[u8]) -> Option<EventHead<'_>> {
    let mut scanner = Scanner { bytes: payload, at: 0 };
    match scanner.object() {
        Outcome::Head(head) => Some(head),
        Outcome::NoHead => None,
        Outcome::AskSerde => serde_json::from_slice(payload).ok(),
    }
}

/// What the scan concluded.
enum Outcome<'a> {
    Head(EventHead<'a>),
    NoHead,
    /// Something only a full parser decides (an escape in a head key or value).
    AskSerde,
}

/// Why a scan step stopped.
enum Stop {
    /// Not JSON, or not an event head: no head.
    Malformed,
    /// serde_json decides.
    AskSerde,
}

struct Scanner<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Scanner<'a> {
    fn object(&mut self) -> Outcome<'a> {
        match self.walk_object() {
            Ok(head) => Outcome::Head(head),
            Err(Stop::Malformed) => Outcome::NoHead,
            Err(Stop::AskSerde) => Outcome::AskSerde,
        }
    }

    fn walk_object(&mut self) -> Result<EventHead<'a>, Stop> {
        self.expect(b'{')?;
        let mut head = EventHead::default();
        let mut seen = [false; 4];
        if self.peek() == Some(b'}') {
            self.at += 1;
            return self.end(head);
        }
        loop {
            let key = self.plain_string()?;
            self.expect(b':')?;
            let slot = match key {
                b"id" => Some(0),
                b"user" => Some(1),
                b"type" => Some(2),
                b"time" => Some(3),
                _ => None,
            };
            match slot {
                Some(slot) if seen[slot] => return Err(Stop::Malformed),
                Some(slot) => {
                    seen[slot] = true;
                    self.head_value(slot, &mut head)?;
                }
                None => self.skip_value()?,
            }
            match self.next_byte() {
                Some(b',') => continue,
                Some(b'}') => return self.end(head),
                _ => return Err(Stop::Malformed),
            }
        }
    }

    /// Only whitespace may follow the object.
    fn end(&mut self, head: EventHead<'a>) -> Result<EventHead<'a>, Stop> {
        match self.peek() {
            None => Ok(head),
            Some(_) => Err(Stop::Malformed),
        }
    }

    fn head_value(&mut self, slot: usize, head: &mut EventHead<'a>) -> Result<(), Stop> {
        match self.peek() {
            Some(b'n') => return self.literal(b"null"),
            Some(b'"') => {
                let text = std::str::from_utf8(self.plain_string()?).map_err(|_| Stop::Malformed)?;
                let text = Some(Cow::Borrowed(text));
                match slot {
                    0 => head.id = text,
                    1 => head.user = text,
                    2 => head.event_type = text,
                    _ => head.time = text.map(Time::Text),
                }
            }
            Some(b'-' | b'0'..=b'9') if slot == 3 => {
                let start = self.at;
                self.skip_number()?;
                let text = std::str::from_utf8(&self.bytes[start..self.at]).map_err(|_| Stop::Malformed)?;
                // Leading zeros, `-0` (a float to serde_json), fractions, exponents and
                // numbers beyond i64: serde_json's rules decide.
                let digits = text.strip_prefix('-').unwrap_or(text);
                if digits.len() > 1 && digits.starts_with('0') || text == "-0" {
                    return Err(Stop::AskSerde);
                }
                head.time = Some(Time::Millis(text.parse().map_err(|_| Stop::AskSerde)?));
            }
            _ => return Err(Stop::Malformed),
        }
        Ok(())
    }

    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes.get(self.at) {
            self.at += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_whitespace();
        self.bytes.get(self.at).copied()
    }

    fn next_byte(&mut self) -> Option<u8> {
        let byte = self.peek()?;
        self.at += 1;
        Some(byte)
    }

    fn expect(&mut self, byte: u8) -> Result<(), Stop> {
        match self.next_byte() {
            Some(b) if b == byte => Ok(()),
            _ => Err(Stop::Malformed),
        }
    }

    /// A string without escapes (its bytes between the quotes); one with escapes is
    /// serde_json's to decode.
    fn plain_string(&mut self) -> Result<&'a [u8], Stop> {
        self.expect(b'"')?;
        let start = self.at;
        loop {
            match self.bytes.get(self.at) {
                None => return Err(Stop::Malformed),
                Some(b'"') => {
                    self.at += 1;
                    return Ok(&self.bytes[start..self.at - 1]);
                }
                Some(b'\\') => return Err(Stop::AskSerde),
                Some(0..=0x1f) => return Err(Stop::Malformed),
                Some(_) => self.at += 1,
            }
        }
    }

    /// Skips a string, escapes included.
    fn skip_string(&mut self) -> Result<(), Stop> {
        self.expect(b'"')?;
        loop {
            match self.bytes.get(self.at) {
                None => return Err(Stop::Malformed),
                Some(b'"') => {
                    self.at += 1;
                    return Ok(());
                }
                Some(b'\\') => self.at += 2,
                Some(_) => self.at += 1,
            }
        }
    }

    fn literal(&mut self, word: &[u8]) -> Result<(), Stop> {
        if self.bytes[self.at..].starts_with(word) {
            self.at += word.len();
            Ok(())
        } else {
            Err(Stop::Malformed)
        }
    }

    fn skip_number(&mut self) -> Result<(), Stop> {
        let start = self.at;
        while let Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9') = self.bytes.get(self.at) {
            self.at += 1;
        }
        if self.at == start {
            Err(Stop::Malformed)
        } else {
            Ok(())
        }
    }

    /// Skips one value of any kind, by its brackets and quotes.
    fn skip_value(&mut self) -> Result<(), Stop> {
        match self.peek() {
            Some(b'"') => self.skip_string(),
            Some(b'{' | b'[') => {
                let mut depth = 0usize;
                loop {
                    match self.peek() {
                        None => return Err(Stop::Malformed),
                        Some(b'"') => self.skip_string()?,
                        Some(b'{' | b'[') => {
                            depth += 1;
                            self.at += 1;
                        }
                        Some(b'}' | b']') => {
                            depth -= 1;
                            self.at += 1;
                            if depth == 0 {
                                return Ok(());
                            }
                        }
                        Some(_) => self.at += 1,
                    }
                }
            }
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            Some(_) => self.skip_number(),
            None => Err(Stop::Malformed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn by_serde(payload: &[u8]) -> Option<EventHead<'_>> {
        serde_json::from_slice(payload).ok()
    }

    fn json_value() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            (-1e9f64..1e9).prop_map(serde_json::Value::from),
            "[a-z\"\\\\é\u{1}/ ]{0,8}".prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
                prop::collection::btree_map("(id|user|type|time|[a-z]{1,3})", inner, 0..4)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// Objects whose head fields are sometimes of the right type, sometimes not.
    fn event_object() -> impl Strategy<Value = serde_json::Value> {
        let text = "[a-z0-9\"\\\\:-]{0,6}".prop_map(serde_json::Value::from);
        let head = prop_oneof![
            text.clone(),
            any::<i64>().prop_map(serde_json::Value::from),
            Just(serde_json::Value::Null),
            json_value()
        ];
        (
            prop::option::of(text.clone()),
            prop::option::of(text),
            prop::option::of(head.clone()),
            prop::option::of(head),
            prop::collection::btree_map("[a-z]{1,4}", json_value(), 0..4),
        )
            .prop_map(|(id, user, kind, time, rest)| {
                let mut object: serde_json::Map<String, serde_json::Value> = rest.into_iter().collect();
                for (key, value) in [("id", id), ("user", user), ("type", kind), ("time", time)] {
                    if let Some(value) = value {
                        object.insert(key.into(), value);
                    }
                }
                serde_json::Value::Object(object)
            })
    }

    proptest! {
        #[test]
        fn the_scanner_agrees_with_serde_json_on_valid_json(value in prop_oneof![event_object(), json_value()], spaced in any::<bool>()) {
            let text = if spaced { serde_json::to_string_pretty(&value) } else { serde_json::to_string(&value) };
            let text = text.map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(scan(text.as_bytes()), by_serde(text.as_bytes()), "{}", text);
        }

        #[test]
        fn the_scanner_never_panics_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
            let _ = scan(&bytes);
        }
    }

    #[test]
    fn truncated_and_repeated_heads_and_odd_numbers_have_none() {
        for payload in [
            &br#"{"id":"e1","user":"u1""#[..],
            br#"{"id":"e1","id":"e2"}"#,
            br#"{"id":"e1"} x"#,
            b"",
            b"nul",
            br#"{"time":-0}"#,
            br#"{"time":01}"#,
            br#"{"time":-01}"#,
        ] {
            assert_eq!(scan(payload), by_serde(payload), "{}", String::from_utf8_lossy(payload));
            assert!(scan(payload).is_none());
        }
    }
}
