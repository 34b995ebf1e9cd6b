//! Errors of the rule language, with byte spans, and their compiler-style rendering.
//!
//! Contract: every error that concerns a piece of text carries a [`Span`] of byte
//! offsets into that text; [`Diagnostic`] turns a span into `file:line:col` and renders
//! the offending line with a caret, like a compiler. Nothing here panics on any span.

use std::fmt;

/// A half-open byte range `[start, end)` in a source text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Span {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

impl Span {
    /// A span from `start` to `end`.
    pub fn new(start: usize, end: usize) -> Span {
        Span {
            start,
            end: end.max(start),
        }
    }

    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span::new(self.start.min(other.start), self.end.max(other.end))
    }

    /// The same span moved `offset` bytes to the right.
    pub fn shifted(self, offset: usize) -> Span {
        Span::new(self.start + offset, self.end + offset)
    }
}

/// An error in a rule condition: where, and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RuleError {
    /// Where in the condition text.
    pub span: Span,
    /// A readable reason, starting lowercase, no trailing period.
    pub message: String,
}

impl RuleError {
    /// An error at `span`.
    pub fn new(span: Span, message: impl Into<String>) -> RuleError {
        RuleError {
            span,
            message: message.into(),
        }
    }
}

/// A 1-based line and column (columns count characters).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LineCol {
    /// 1-based line.
    pub line: usize,
    /// 1-based column in characters.
    pub col: usize,
}

/// The line and column of a byte offset in `text` (clamped to the text).
pub fn line_col(text: &str, offset: usize) -> LineCol {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    LineCol {
        line,
        col: before[line_start..].chars().count() + 1,
    }
}

/// An error located in a named source, ready to print like a compiler.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// File name (or another label) of the source.
    pub file: String,
    /// Where.
    pub at: LineCol,
    /// Why.
    pub message: String,
    /// The source line the error is on, for the excerpt.
    pub line_text: String,
    /// How many characters to underline (at least one).
    pub width: usize,
}

impl Diagnostic {
    /// Locates `span` of `source` for printing.
    pub fn new(file: &str, source: &str, span: Span, message: impl Into<String>) -> Diagnostic {
        let at = line_col(source, span.start);
        let line_text = source.lines().nth(at.line - 1).unwrap_or("").to_string();
        let end = line_col(source, span.end);
        let width = if end.line == at.line {
            end.col.saturating_sub(at.col).max(1)
        } else {
            1
        };
        Diagnostic {
            file: file.to_string(),
            at,
            message: message.into(),
            line_text,
            width,
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}:{}:{}: error: {}", self.file, self.at.line, self.at.col, self.message)?;
        let gutter = self.at.line.to_string().len();
        let shown: String = self.line_text.chars().take(200).collect();
        writeln!(f, "{:gutter$} |", "")?;
        writeln!(f, "{} | {}", self.at.line, shown)?;
        let pad = " ".repeat(self.at.col.saturating_sub(1).min(200));
        write!(f, "{:gutter$} | {}{}", "", pad, "^".repeat(self.width.min(200)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_like_a_compiler() {
        let source = "a = 1\ncount(\"ad_clikced\", \"10m\") >= 3\n";
        let start = source.find("\"ad_clikced\"").unwrap_or(0);
        let d = Diagnostic::new("ads.toml", source, Span::new(start, start + 12), "unknown event type");
        assert_eq!(d.at, LineCol { line: 2, col: 7 });
        assert_eq!(
            d.to_string(),
            "ads.toml:2:7: error: unknown event type\n  |\n2 | count(\"ad_clikced\", \"10m\") >= 3\n  |       ^^^^^^^^^^^^"
        );
    }

    #[test]
    fn out_of_range_spans_do_not_panic() {
        let d = Diagnostic::new("x", "héllo", Span::new(2, 99), "m");
        assert_eq!(d.at.line, 1);
        let _ = d.to_string();
    }
}
