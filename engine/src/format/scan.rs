//! A line-oriented scanner for HCL native syntax, just precise enough for the
//! formatter: for every physical line it records whether the line starts inside
//! something whose bytes are content (a heredoc body, a block comment, a quoted
//! string), how the line changes the bracket nesting, and where the line's attribute
//! `=` is, if it has one.
//!
//! It is not a parser: it runs only on input that hcl-edit has already accepted,
//! and the formatter checks its own output against the parser afterwards, so a
//! misjudged corner can cost a prettier layout but never a changed meaning.

/// Where a line begins, as far as formatting is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum LineStart {
    /// Ordinary code (or a blank line): may be re-indented and re-spaced.
    Code,
    /// Inside a heredoc body, including its closing marker: bytes are content.
    Heredoc,
    /// Inside a `/* ... */` comment that began on an earlier line.
    BlockComment,
    /// Inside a quoted string or template interpolation that began on an earlier line.
    Template,
}

/// What the scanner learnt about one physical line.
#[derive(Debug, Clone)]
pub(super) struct ScannedLine<'a> {
    /// The line without its `\n`.
    pub text: &'a str,
    pub start: LineStart,
    /// Structural closing brackets before any other token on the line.
    pub leading_closers: usize,
    /// Structural opening brackets minus closing brackets on the whole line.
    pub net_brackets: isize,
    /// Byte offset in `text` of the `=` that assigns an attribute or object item,
    /// when the line starts with `KEY =` at the line's own nesting level.
    pub assign: Option<usize>,
    /// The line opens a heredoc whose body starts on the next line.
    pub opens_heredoc: bool,
    /// The heredoc it opens is an indented one (`<<-`), whose common indentation
    /// is not content.
    pub opens_indented_heredoc: bool,
    /// The line ends inside a block comment, string or heredoc.
    pub ends_inside: bool,
    /// The first token of the line is a comment.
    pub comment_only: bool,
    /// Byte offset in `text` of a `#` or `//` comment that follows code.
    pub trailing_comment: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Frame {
    /// A structural `{`, `[` or `(` (outside any string).
    Bracket,
    /// A `{`, `[` or `(` inside a template interpolation.
    NestedBracket,
    /// A quoted string `"…"`.
    Quoted,
    /// `${ … }` or `%{ … }` inside a quoted string.
    Interpolation,
}

/// Scans `source` into lines.
pub(super) fn scan(source: &str) -> Vec<ScannedLine<'_>> {
    let mut frames: Vec<Frame> = Vec::new();
    let mut in_block_comment = false;
    // The heredoc whose body we are in: its marker.
    let mut heredoc: Option<String> = None;
    // A heredoc opened on the current line, whose body starts on the next one.
    let mut pending_heredoc: Option<String> = None;
    let mut lines = Vec::new();

    for text in source.split('\n') {
        if let Some(marker) = &heredoc {
            let closes = text.trim() == marker.as_str();
            lines.push(ScannedLine {
                text,
                start: LineStart::Heredoc,
                leading_closers: 0,
                net_brackets: 0,
                assign: None,
                opens_heredoc: false,
                opens_indented_heredoc: false,
                ends_inside: !closes,
                comment_only: false,
                trailing_comment: None,
            });
            if closes {
                heredoc = None;
            }
            continue;
        }

        let start = if in_block_comment {
            LineStart::BlockComment
        } else if frames
            .iter()
            .any(|f| matches!(f, Frame::Quoted | Frame::Interpolation))
        {
            LineStart::Template
        } else {
            LineStart::Code
        };

        let mut line = ScannedLine {
            text,
            start,
            leading_closers: 0,
            net_brackets: 0,
            assign: None,
            opens_heredoc: false,
            opens_indented_heredoc: false,
            ends_inside: false,
            comment_only: false,
            trailing_comment: None,
        };
        // Relative nesting since the start of this line, for finding the `=`.
        let mut relative_depth: isize = 0;
        let mut seen_token = false;
        let mut seen_assign_candidate = false;

        let bytes = text.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            let c = bytes[i];
            if in_block_comment {
                if c == b'*' && bytes.get(i + 1) == Some(&b'/') {
                    in_block_comment = false;
                    i += 2;
                } else {
                    i += 1;
                }
                continue;
            }
            let in_string = matches!(frames.last(), Some(Frame::Quoted));
            if in_string {
                match c {
                    b'\\' => i += 2,
                    b'"' => {
                        frames.pop();
                        i += 1;
                    }
                    b'$' | b'%'
                        if bytes.get(i + 1) == Some(&c) && bytes.get(i + 2) == Some(&b'{') =>
                    {
                        // `$${` and `%%{` are literal text.
                        i += 3;
                    }
                    b'$' | b'%' if bytes.get(i + 1) == Some(&b'{') => {
                        frames.push(Frame::Interpolation);
                        i += 2;
                    }
                    _ => i += 1,
                }
                continue;
            }
            // Code: structural when no string encloses us.
            let structural = !frames
                .iter()
                .any(|f| matches!(f, Frame::Quoted | Frame::Interpolation));
            if c.is_ascii_whitespace() {
                i += 1;
                continue;
            }
            if c == b'#' || (c == b'/' && bytes.get(i + 1) == Some(&b'/')) {
                if seen_token {
                    line.trailing_comment = Some(i);
                } else {
                    line.comment_only = true;
                }
                break;
            }
            if c == b'/' && bytes.get(i + 1) == Some(&b'*') {
                if !seen_token {
                    line.comment_only = true;
                }
                in_block_comment = true;
                i += 2;
                continue;
            }
            seen_token = true;
            match c {
                b'"' => {
                    frames.push(Frame::Quoted);
                    i += 1;
                }
                b'{' | b'[' | b'(' => {
                    if structural {
                        frames.push(Frame::Bracket);
                        line.net_brackets += 1;
                        relative_depth += 1;
                    } else {
                        frames.push(Frame::NestedBracket);
                    }
                    i += 1;
                }
                b'}' | b']' | b')' => {
                    match frames.last() {
                        Some(Frame::Interpolation) if c == b'}' => {
                            frames.pop();
                        }
                        Some(Frame::Bracket) => {
                            frames.pop();
                            line.net_brackets -= 1;
                            relative_depth -= 1;
                            if only_closers_before(text, i) {
                                line.leading_closers += 1;
                            }
                        }
                        Some(Frame::NestedBracket) => {
                            frames.pop();
                        }
                        // Unbalanced input never reaches here (the parser rejected it).
                        _ => {}
                    }
                    i += 1;
                }
                b'<' if structural && bytes.get(i + 1) == Some(&b'<') => {
                    let rest = &text[i + 2..];
                    let indented = rest.starts_with('-');
                    let rest = rest.strip_prefix('-').unwrap_or(rest);
                    let marker: String = rest
                        .chars()
                        .take_while(|ch| ch.is_alphanumeric() || *ch == '_' || *ch == '-')
                        .collect();
                    if !marker.is_empty() && rest[marker.len()..].trim().is_empty() {
                        pending_heredoc = Some(marker);
                        line.opens_heredoc = true;
                        line.opens_indented_heredoc = indented;
                        break;
                    }
                    i += 2;
                }
                b'=' if structural => {
                    let next = bytes.get(i + 1).copied();
                    let prev = if i > 0 { bytes[i - 1] } else { b' ' };
                    let is_operator = matches!(next, Some(b'=') | Some(b'>'))
                        || matches!(prev, b'=' | b'!' | b'<' | b'>');
                    if is_operator {
                        // Skip both characters of `==`, `=>`.
                        i += if matches!(next, Some(b'=') | Some(b'>')) {
                            2
                        } else {
                            1
                        };
                        seen_assign_candidate = true;
                        continue;
                    }
                    if relative_depth == 0
                        && !seen_assign_candidate
                        && line.leading_closers == 0
                        && i > 0
                    {
                        line.assign = Some(i);
                    }
                    seen_assign_candidate = true;
                    i += 1;
                }
                _ => i += 1,
            }
        }

        if let Some(marker) = pending_heredoc.take() {
            heredoc = Some(marker);
        }
        line.ends_inside = in_block_comment
            || heredoc.is_some()
            || frames
                .iter()
                .any(|f| matches!(f, Frame::Quoted | Frame::Interpolation));
        lines.push(line);
    }
    lines
}

/// Whether everything in `text` before byte `end` is closing brackets and blanks.
fn only_closers_before(text: &str, end: usize) -> bool {
    text[..end]
        .bytes()
        .all(|b| b.is_ascii_whitespace() || matches!(b, b'}' | b']' | b')'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_attribute_equals_sign_and_not_operators() {
        let lines = scan("a = b == c\nx => y\n\"k\" = { a = 1 }\n");
        assert_eq!(lines[0].assign, Some(2));
        assert_eq!(lines[1].assign, None);
        assert_eq!(lines[2].assign, Some(4));
        assert_eq!(lines[2].net_brackets, 0);
    }

    #[test]
    fn heredoc_bodies_and_block_comments_are_content() {
        let lines = scan("a = <<EOF\n  {\nEOF\n/* x\n { */\nb = 1\n");
        assert!(lines[0].opens_heredoc);
        assert_eq!(lines[1].start, LineStart::Heredoc);
        assert_eq!(lines[2].start, LineStart::Heredoc);
        assert_eq!(lines[3].start, LineStart::Code);
        assert!(lines[3].comment_only);
        assert_eq!(lines[4].start, LineStart::BlockComment);
        assert_eq!(lines[4].net_brackets, 0);
        assert_eq!(lines[5].assign, Some(2));
    }

    #[test]
    fn brackets_inside_strings_do_not_nest() {
        let lines = scan("a = \"{${ {x = 1}[\"x\"] }\"\nb = [{\n}]\n");
        assert_eq!(lines[0].net_brackets, 0);
        assert_eq!(lines[0].assign, Some(2));
        assert_eq!(lines[1].net_brackets, 2);
        assert_eq!(lines[2].leading_closers, 2);
    }
}
