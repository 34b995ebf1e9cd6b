//! Tokenizer for CEL condition text.
//!
//! Contract: [`tokenize`] turns the whole text into tokens with byte spans, or returns
//! the first lexical error with its span. It handles CEL's literals (decimal and hex
//! ints, doubles with exponents, single/double/triple-quoted and raw strings with
//! escapes), operators and `//` comments. Unsupported CEL literals (bytes, unsigned
//! ints) are rejected with a reason. It never panics, on any input.

use super::error::{RuleError, Span};

/// A token kind.
#[derive(Clone, Debug, PartialEq)]
pub enum Tok {
    /// An identifier.
    Ident(String),
    /// An integer literal.
    Int(i64),
    /// A floating-point literal.
    Double(f64),
    /// A string literal, unescaped.
    Str(String),
    /// `true` / `false`.
    Bool(bool),
    /// `null` (parsed so it can be rejected with a helpful reason).
    Null,
    /// `in`.
    In,
    /// Punctuation and operators, as written.
    Punct(&'static str),
    /// End of input.
    Eof,
}

/// A token and where it is.
#[derive(Clone, Debug, PartialEq)]
pub struct Token {
    /// What it is.
    pub tok: Tok,
    /// Where it is.
    pub span: Span,
}

const PUNCTS: [&str; 24] = [
    "==", "!=", "<=", ">=", "&&", "||", "<", ">", "!", "+", "-", "*", "/", "%", "?", ":", ".", ",", "(", ")", "[", "]", "{", "}",
];

/// Splits `text` into tokens, ending with [`Tok::Eof`].
pub fn tokenize(text: &str) -> Result<Vec<Token>, RuleError> {
    let bytes = text.as_bytes();
    let mut tokens = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let b = bytes[at];
        if b.is_ascii_whitespace() {
            at += 1;
            continue;
        }
        if text[at..].starts_with("//") {
            at = text[at..].find('\n').map_or(bytes.len(), |i| at + i);
            continue;
        }
        let start = at;
        let tok = if b.is_ascii_alphabetic() || b == b'_' {
            let end = scan_while(bytes, at, |c| c.is_ascii_alphanumeric() || c == b'_');
            let word = &text[at..end];
            let quote = bytes.get(end).filter(|c| **c == b'"' || **c == b'\'').is_some();
            if quote && matches!(word, "r" | "R") {
                let (s, next) = scan_string(text, end, true)?;
                at = next;
                tokens.push(Token {
                    tok: Tok::Str(s),
                    span: Span::new(start, at),
                });
                continue;
            }
            if quote && matches!(word, "b" | "B" | "rb" | "br" | "RB" | "BR" | "Rb" | "bR" | "rB" | "Br") {
                return Err(RuleError::new(
                    Span::new(start, end + 1),
                    "bytes literals are not supported; use a string",
                ));
            }
            at = end;
            match word {
                "true" => Tok::Bool(true),
                "false" => Tok::Bool(false),
                "null" => Tok::Null,
                "in" => Tok::In,
                _ => Tok::Ident(word.to_string()),
            }
        } else if b.is_ascii_digit() || (b == b'.' && bytes.get(at + 1).is_some_and(u8::is_ascii_digit)) {
            let (tok, end) = scan_number(text, at)?;
            at = end;
            tok
        } else if b == b'"' || b == b'\'' {
            let (s, next) = scan_string(text, at, false)?;
            at = next;
            Tok::Str(s)
        } else if let Some(p) = PUNCTS.iter().find(|p| text[at..].starts_with(**p)) {
            at += p.len();
            Tok::Punct(p)
        } else {
            let ch = text[at..].chars().next().unwrap_or('?');
            let hint = match ch {
                '=' => " (use == to compare)",
                '&' => " (use && for 'and')",
                '|' => " (use || for 'or')",
                _ => "",
            };
            return Err(RuleError::new(
                Span::new(at, at + ch.len_utf8()),
                format!("unexpected character {ch:?}{hint}"),
            ));
        };
        tokens.push(Token {
            tok,
            span: Span::new(start, at),
        });
    }
    tokens.push(Token {
        tok: Tok::Eof,
        span: Span::new(text.len(), text.len()),
    });
    Ok(tokens)
}

fn scan_while(bytes: &[u8], mut at: usize, keep: impl Fn(u8) -> bool) -> usize {
    while at < bytes.len() && keep(bytes[at]) {
        at += 1;
    }
    at
}

fn scan_number(text: &str, start: usize) -> Result<(Tok, usize), RuleError> {
    let bytes = text.as_bytes();
    if text[start..].starts_with("0x") || text[start..].starts_with("0X") {
        let end = scan_while(bytes, start + 2, |c| c.is_ascii_hexdigit());
        let span = Span::new(start, end);
        if end == start + 2 {
            return Err(RuleError::new(span, "expected hex digits after 0x"));
        }
        let value = i64::from_str_radix(&text[start + 2..end], 16).map_err(|_| RuleError::new(span, "integer literal out of range"))?;
        return check_suffix(bytes, end, Tok::Int(value));
    }
    let mut end = scan_while(bytes, start, |c| c.is_ascii_digit());
    let mut is_double = false;
    if bytes.get(end) == Some(&b'.') && bytes.get(end + 1).is_some_and(u8::is_ascii_digit) {
        is_double = true;
        end = scan_while(bytes, end + 1, |c| c.is_ascii_digit());
    }
    if matches!(bytes.get(end), Some(b'e' | b'E')) {
        let mut exp = end + 1;
        if matches!(bytes.get(exp), Some(b'+' | b'-')) {
            exp += 1;
        }
        if bytes.get(exp).is_some_and(u8::is_ascii_digit) {
            is_double = true;
            end = scan_while(bytes, exp, |c| c.is_ascii_digit());
        }
    }
    let span = Span::new(start, end);
    let literal = &text[start..end];
    let tok = if is_double {
        let value: f64 = literal.parse().map_err(|_| RuleError::new(span, "malformed number"))?;
        if !value.is_finite() {
            return Err(RuleError::new(span, "number literal out of range"));
        }
        Tok::Double(value)
    } else {
        Tok::Int(
            literal
                .parse()
                .map_err(|_| RuleError::new(span, "integer literal out of range (max 9223372036854775807)"))?,
        )
    };
    check_suffix(bytes, end, tok)
}

fn check_suffix(bytes: &[u8], end: usize, tok: Tok) -> Result<(Tok, usize), RuleError> {
    match bytes.get(end) {
        Some(b'u' | b'U') => Err(RuleError::new(
            Span::new(end, end + 1),
            "unsigned integers are not supported; use an int",
        )),
        Some(c) if c.is_ascii_alphanumeric() || *c == b'_' => {
            Err(RuleError::new(Span::new(end, end + 1), "unexpected character after number"))
        }
        _ => Ok((tok, end)),
    }
}

/// Scans a string literal starting at the opening quote; returns its value and the byte
/// after the closing quote.
fn scan_string(text: &str, start: usize, raw: bool) -> Result<(String, usize), RuleError> {
    let bytes = text.as_bytes();
    let quote = bytes[start];
    let triple = bytes.get(start..start + 3) == Some(&[quote, quote, quote][..]);
    let mut at = start + if triple { 3 } else { 1 };
    let mut out = String::new();
    loop {
        let Some(ch) = text[at..].chars().next() else {
            return Err(RuleError::new(Span::new(start, text.len()), "unterminated string literal"));
        };
        if triple && text.as_bytes()[at..].starts_with(&[quote, quote, quote]) {
            return Ok((out, at + 3));
        }
        if !triple && ch as u32 == u32::from(quote) {
            return Ok((out, at + 1));
        }
        if !triple && ch == '\n' {
            return Err(RuleError::new(
                Span::new(start, at),
                "unterminated string literal (use \"\"\" for multi-line text)",
            ));
        }
        if ch == '\\' && !raw {
            let (escaped, next) = scan_escape(text, at)?;
            out.push(escaped);
            at = next;
        } else {
            out.push(ch);
            at += ch.len_utf8();
        }
    }
}

fn scan_escape(text: &str, at: usize) -> Result<(char, usize), RuleError> {
    let bytes = text.as_bytes();
    let bad = |len: usize, why: &str| RuleError::new(Span::new(at, (at + len).min(text.len())), why.to_string());
    let Some(&kind) = bytes.get(at + 1) else {
        return Err(bad(1, "unterminated escape sequence"));
    };
    let simple = match kind {
        b'n' => Some('\n'),
        b't' => Some('\t'),
        b'r' => Some('\r'),
        b'\\' => Some('\\'),
        b'"' => Some('"'),
        b'\'' => Some('\''),
        b'`' => Some('`'),
        b'?' => Some('?'),
        b'a' => Some('\u{7}'),
        b'b' => Some('\u{8}'),
        b'f' => Some('\u{c}'),
        b'v' => Some('\u{b}'),
        _ => None,
    };
    if let Some(c) = simple {
        return Ok((c, at + 2));
    }
    let digits = match kind {
        b'x' | b'X' => 2,
        b'u' => 4,
        b'U' => 8,
        _ => return Err(bad(2, "unknown escape sequence")),
    };
    let hex = text
        .get(at + 2..at + 2 + digits)
        .ok_or_else(|| bad(2, "truncated escape sequence"))?;
    let code = u32::from_str_radix(hex, 16).map_err(|_| bad(2 + digits, "malformed escape sequence"))?;
    let c = char::from_u32(code).ok_or_else(|| bad(2 + digits, "escape is not a valid Unicode character"))?;
    Ok((c, at + 2 + digits))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<Tok> {
        tokenize(text).map(|ts| ts.into_iter().map(|t| t.tok).collect()).unwrap_or_default()
    }

    #[test]
    fn literals() {
        assert_eq!(
            kinds("42 0x1F 3.5 1e3 .5"),
            vec![
                Tok::Int(42),
                Tok::Int(31),
                Tok::Double(3.5),
                Tok::Double(1000.0),
                Tok::Double(0.5),
                Tok::Eof
            ]
        );
        assert_eq!(
            kinds(r#"'a' "b\n" """c"d""" r"\d+" "\u00e9""#),
            vec![
                Tok::Str("a".into()),
                Tok::Str("b\n".into()),
                Tok::Str("c\"d".into()),
                Tok::Str("\\d+".into()),
                Tok::Str("é".into()),
                Tok::Eof
            ]
        );
        assert_eq!(
            kinds("true false null in x_1"),
            vec![
                Tok::Bool(true),
                Tok::Bool(false),
                Tok::Null,
                Tok::In,
                Tok::Ident("x_1".into()),
                Tok::Eof
            ]
        );
    }

    #[test]
    fn operators_and_comments() {
        assert_eq!(
            kinds("a>=1 // note\n&&!b"),
            vec![
                Tok::Ident("a".into()),
                Tok::Punct(">="),
                Tok::Int(1),
                Tok::Punct("&&"),
                Tok::Punct("!"),
                Tok::Ident("b".into()),
                Tok::Eof
            ]
        );
    }

    #[test]
    fn errors_have_positions() {
        let e = tokenize("a = 1").err();
        assert_eq!(
            e.map(|e| (e.span.start, e.message)),
            Some((2, "unexpected character '=' (use == to compare)".into()))
        );
        assert!(tokenize("\"open").is_err());
        assert!(tokenize("b\"x\"").is_err());
        assert!(tokenize("1u").is_err());
        assert!(tokenize("99999999999999999999").is_err());
        assert!(tokenize("\"\\q\"").is_err());
        assert!(tokenize("\"\\u12\"").is_err());
    }
}
