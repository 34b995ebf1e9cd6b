//! The text of rule files, cut into one piece per segment and put back together.
//!
//! Contract: [`split_file`] cuts a rule file into its preamble (the comments before the
//! first `[[segment]]` table) and one [`Chunk`] per table: the text from its header line
//! up to the next header, comments and blank lines included. Joining the preamble and
//! the chunks ([`join_file`]) gives the file back byte for byte, so rules imported from
//! git and exported again are unchanged. A file is refused when its preamble holds
//! anything but comments, or when a chunk alone does not read as exactly the table the
//! whole file has at that place (a `[[segment]]` line inside a multi-line string, for
//! one). [`parse_chunk`] reads one segment's text; [`with_id`] rewrites its id in place.
//!
//! ```
//! use segstream_console::segment_text::{join_file, split_file};
//! let file = "# ads\n\n[[segment]]\nid = \"a\"\nname = \"A\"\nwhen = 'true'\n\n[[segment]]\nid = \"b\"\nname = \"B\"\nwhen = 'false'\n";
//! let split = split_file(file).unwrap();
//! assert_eq!(split.chunks.iter().map(|c| c.def.id.as_str()).collect::<Vec<_>>(), ["a", "b"]);
//! assert_eq!(join_file(&split.preamble, split.chunks.iter().map(|c| c.text.as_str())), file);
//! ```

use segstream_rules::{line_col, parse_rule_file, DefSpans, LineCol, SegmentDef};

/// One segment's text and what it defines.
#[derive(Clone, Debug, PartialEq)]
pub struct Chunk {
    /// The table's text, from its header to the next one.
    pub text: String,
    /// The definition it holds.
    pub def: SegmentDef,
}

/// A rule file cut into pieces.
#[derive(Clone, Debug, PartialEq)]
pub struct SplitFile {
    /// Comments before the first table.
    pub preamble: String,
    /// The tables, in file order.
    pub chunks: Vec<Chunk>,
}

/// Why a text is not a segment (or a file of segments), located.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{line}:{col}: {message}")]
pub struct TextError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub col: usize,
    /// Why.
    pub message: String,
}

impl TextError {
    fn at(text: &str, offset: usize, message: impl Into<String>) -> TextError {
        let LineCol { line, col } = line_col(text, offset);
        TextError {
            line,
            col,
            message: message.into(),
        }
    }
}

/// Whether a line opens a `[[segment]]` table.
fn is_header(line: &str) -> bool {
    let code = line.split('#').next().unwrap_or("");
    let compact: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    compact == "[[segment]]"
}

/// Byte offsets of the lines that open a table.
fn header_offsets(text: &str) -> Vec<usize> {
    let mut offsets = Vec::new();
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        if is_header(line) {
            offsets.push(at);
        }
        at += line.len();
    }
    offsets
}

/// Reads one segment's text: exactly one `[[segment]]` table and nothing else.
pub fn parse_chunk(text: &str) -> Result<(SegmentDef, DefSpans), TextError> {
    let mut parsed = parse_rule_file(text).map_err(|e| TextError::at(text, e.span.start, e.message))?;
    if parsed.len() != 1 {
        return Err(TextError::at(
            text,
            0,
            format!("a segment's text holds one [[segment]] table; this one holds {}", parsed.len()),
        ));
    }
    let first = header_offsets(text).first().copied().unwrap_or(0);
    if !text[..first]
        .lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
    {
        return Err(TextError::at(text, 0, "only comments may come before the [[segment]] header"));
    }
    Ok(parsed.remove(0))
}

/// Cuts a rule file into its preamble and one chunk per table.
pub fn split_file(text: &str) -> Result<SplitFile, TextError> {
    let whole = parse_rule_file(text).map_err(|e| TextError::at(text, e.span.start, e.message))?;
    let offsets = header_offsets(text);
    let preamble = &text[..offsets.first().copied().unwrap_or(text.len())];
    if !preamble.lines().all(|l| l.trim().is_empty() || l.trim_start().starts_with('#')) {
        return Err(TextError::at(text, 0, "only comments may come before the first [[segment]] table"));
    }
    let mut chunks = Vec::with_capacity(offsets.len());
    for (index, start) in offsets.iter().enumerate() {
        let end = offsets.get(index + 1).copied().unwrap_or(text.len());
        let piece = &text[*start..end];
        let (def, _) = parse_chunk(piece).map_err(|e| TextError::at(text, *start, e.message))?;
        chunks.push(Chunk {
            text: piece.to_string(),
            def,
        });
    }
    let same = chunks.len() == whole.len() && chunks.iter().zip(&whole).all(|(c, (d, _))| c.def == *d);
    if !same {
        return Err(TextError::at(
            text,
            0,
            "the file cannot be cut into one piece per [[segment]] table (is a `[[segment]]` line inside a string?)",
        ));
    }
    Ok(SplitFile {
        preamble: preamble.to_string(),
        chunks,
    })
}

/// A file from its preamble and chunks, each chunk ending in a newline.
pub fn join_file<'a>(preamble: &str, chunks: impl IntoIterator<Item = &'a str>) -> String {
    let mut file = preamble.to_string();
    for chunk in chunks {
        if !file.is_empty() && !file.ends_with('\n') {
            file.push('\n');
        }
        file.push_str(chunk);
    }
    if !file.is_empty() && !file.ends_with('\n') {
        file.push('\n');
    }
    file
}

/// The chunk with its `id` value replaced by `id` (the rest of the text unchanged).
pub fn with_id(text: &str, id: &str) -> Result<String, TextError> {
    if !segstream_rules::is_valid_id(id) {
        return Err(TextError::at(
            text,
            0,
            format!("{id:?} is not a segment id ([a-z0-9_-], at most 64)"),
        ));
    }
    let (_, spans) = parse_chunk(text)?;
    // A valid id needs no escaping inside a basic string.
    Ok(format!("{}\"{id}\"{}", &text[..spans.id.start], &text[spans.id.end..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO: &str = "# header\n[[segment]]\nid = \"a\"\nname = \"A\"\nwhen = '''\ntrue\n'''\n# about b\n\n[[ segment ]] # b\nid = \"b\"\nname = \"B\"\nparent = \"a\"\nwhen = 'false'";

    #[test]
    fn a_file_splits_and_joins_back_byte_for_byte() {
        let split = split_file(TWO).unwrap();
        assert_eq!(split.preamble, "# header\n");
        assert_eq!(split.chunks.len(), 2);
        assert!(split.chunks[0].text.ends_with("# about b\n\n"));
        assert_eq!(split.chunks[1].def.parent.as_deref(), Some("a"));
        let joined = join_file(&split.preamble, split.chunks.iter().map(|c| c.text.as_str()));
        assert_eq!(joined, format!("{TWO}\n"), "a missing final newline is the only change");
    }

    #[test]
    fn a_header_inside_a_string_is_refused_not_misread() {
        let text = "[[segment]]\nid = \"a\"\nname = \"A\"\ndescription = '''\n[[segment]]\n'''\nwhen = 'true'\n";
        // The first piece, cut at the line inside the string, does not read alone.
        let error = split_file(text).unwrap_err();
        assert!(error.message.contains("multi-line"), "{error}");
    }

    #[test]
    fn a_preamble_with_settings_is_refused() {
        let error = split_file("x = 1\n[[segment]]\nid = \"a\"\nname = \"A\"\nwhen = 'true'\n").unwrap_err();
        assert_eq!((error.line, error.col), (1, 1), "{error}");
    }

    #[test]
    fn a_chunk_holds_exactly_one_table_and_errors_are_located() {
        assert!(parse_chunk("[[segment]]\nid = \"a\"\nname = \"A\"\nwhen = 'true'\n").is_ok());
        let error = parse_chunk("[[segment]]\nid = \"a\"\nname = \"A\"\nwhen = 'true'\nbogus = 1\n").unwrap_err();
        assert_eq!(error.line, 5, "{error}");
        let two =
            parse_chunk("[[segment]]\nid = \"a\"\nname = \"A\"\nwhen = 'true'\n[[segment]]\nid = \"b\"\nname = \"B\"\nwhen = 'true'\n");
        assert!(two.unwrap_err().message.contains("holds 2"));
    }

    #[test]
    fn renaming_changes_only_the_id() {
        let text = "[[segment]]\nid = \"a\" # the id\nname = \"A\"\nwhen = 'true'\n";
        let renamed = with_id(text, "b_2").unwrap();
        assert_eq!(renamed, "[[segment]]\nid = \"b_2\" # the id\nname = \"A\"\nwhen = 'true'\n");
    }
}
