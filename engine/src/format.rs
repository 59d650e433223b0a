//! Canonical formatting of failback's HCL files, as `terraform fmt` does it: two-space
//! indentation by nesting, `=` aligned within runs of consecutive single-line
//! attributes, one space around `=` otherwise, single spaces in block headers, one
//! blank line after every block, no runs of blank lines, no trailing whitespace and
//! one final newline.
//!
//! Formatting works line by line on the source text (see `scan`), never by printing
//! a syntax tree, so comments stay exactly where and what they were and multi-line
//! expressions keep their line breaks: they are re-indented, never reflowed. The
//! body of an indented heredoc (`<<-EOT`) moves as a whole to one level below its
//! attribute, keeping its inner indentation; a plain heredoc (`<<EOT`) and the inside
//! of block comments are content and are kept byte for byte.
//!
//! Two guarantees are checked on every call rather than trusted: the input must parse
//! (hcl-edit; otherwise a [`FormatError::Syntax`] with line and column), and the
//! output must parse to the same body as the input (hcl-rs `Body` equality);
//! otherwise [`FormatError::WouldChangeMeaning`] and the caller keeps the file as it
//! was. Formatting is idempotent: `format_source(format_source(x)) == format_source(x)`.

mod scan;

use std::collections::BTreeSet;
use std::path::Path;

use hcl_edit::Span as _;
use miette::{Diagnostic, NamedSource, SourceSpan};

use self::scan::{LineStart, ScannedLine, scan};

/// Why a source could not be formatted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// The input is not valid HCL; nothing was formatted.
    #[error("line {line}, column {column}: {message}")]
    Syntax {
        message: String,
        /// 1-based.
        line: usize,
        /// 1-based.
        column: usize,
        /// Byte offset of the error in the input.
        offset: usize,
    },
    /// The formatted text would not mean the same as the input. This is a bug in the
    /// formatter; the input is left as it was.
    #[error(
        "formatting would change the meaning of the file; it was left unchanged (this is a bug in failback fmt, please report it with the file)"
    )]
    WouldChangeMeaning,
}

impl FormatError {
    /// A diagnostic pointing into `source` (the text of `path`) for the user.
    pub fn to_diagnostic(&self, path: &Path, source: &str) -> FormatDiagnostic {
        let name = path.display().to_string();
        match self {
            FormatError::Syntax {
                message,
                line,
                column,
                offset,
            } => {
                let offset = (*offset).min(source.len());
                FormatDiagnostic {
                    message: format!("{name}:{line}:{column}: invalid HCL: {message}"),
                    source_code: NamedSource::new(name, source.to_owned()),
                    label: Some(SourceSpan::from(offset..offset)),
                    help: "fix the syntax error; the file was left unchanged".to_owned(),
                }
            }
            FormatError::WouldChangeMeaning => FormatDiagnostic {
                message: format!("{name}: {self}"),
                source_code: NamedSource::new(name, source.to_owned()),
                label: None,
                help: "the file was left unchanged".to_owned(),
            },
        }
    }
}

/// A [`FormatError`] ready to render, with the file it is about.
#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("{message}")]
#[diagnostic(code(failback::fmt))]
pub struct FormatDiagnostic {
    message: String,
    #[source_code]
    source_code: NamedSource<String>,
    #[label("here")]
    label: Option<SourceSpan>,
    #[help]
    help: String,
}

/// Formats one HCL file's text. See the module documentation for the rules.
pub fn format_source(source: &str) -> Result<String, FormatError> {
    let parsed = hcl_edit::parser::parse_body(source).map_err(|err| FormatError::Syntax {
        message: err.message().to_owned(),
        line: err.location().line(),
        column: err.location().column(),
        offset: err.location().offset(),
    })?;
    let block_end_lines = block_end_lines(&parsed, source);
    let before = hcl::Body::from(parsed);

    // Never trust the layout rules alone: the output must mean what the input meant.
    // Re-indenting `<<-` heredoc bodies relies on how the parser strips their
    // indentation; if that ever disagrees, keep the bodies as written instead.
    for reindent_heredocs in [true, false] {
        let formatted = format_lines(source, &block_end_lines, reindent_heredocs);
        let after = hcl_edit::parser::parse_body(&formatted).map(hcl::Body::from);
        if after.as_ref() == Ok(&before) {
            return Ok(formatted);
        }
    }
    Err(FormatError::WouldChangeMeaning)
}

/// The 0-based line numbers on which a block (at any depth) ends.
fn block_end_lines(body: &hcl_edit::structure::Body, source: &str) -> BTreeSet<usize> {
    fn walk(body: &hcl_edit::structure::Body, source: &str, out: &mut BTreeSet<usize>) {
        for block in body.blocks() {
            if let Some(span) = block.span() {
                let end = span.end.saturating_sub(1).min(source.len());
                out.insert(source[..end].bytes().filter(|b| *b == b'\n').count());
            }
            walk(&block.body, source, out);
        }
    }
    let mut out = BTreeSet::new();
    walk(body, source, &mut out);
    out
}

/// A single-line attribute split for alignment: `KEY = VALUE # COMMENT`.
#[derive(Debug)]
struct AttributeLine {
    key: String,
    value: String,
    comment: Option<String>,
}

/// One output line before alignment.
#[derive(Debug)]
enum OutLine {
    Blank,
    /// Kept byte for byte (heredoc bodies).
    Verbatim(String),
    /// Indentation level and content, without leading or trailing whitespace.
    Code {
        level: usize,
        text: String,
        /// A single-line attribute, for alignment.
        attribute: Option<AttributeLine>,
        opens: bool,
        starts_with_closer: bool,
        ends_block: bool,
    },
}

fn format_lines(source: &str, block_ends: &BTreeSet<usize>, reindent_heredocs: bool) -> String {
    let scanned = scan(source);
    // The heredoc being read: the level of the line that opened it, whether its body
    // may be re-indented, and its lines so far.
    let mut heredoc: Option<(usize, bool, Vec<&str>)> = None;
    // Nesting as a stack of per-line openings: a line that opens `[{` indents what
    // follows by one level, not two, and needs both closed to dedent (as hclwrite).
    let mut open_per_line: Vec<usize> = Vec::new();
    let mut out: Vec<OutLine> = Vec::with_capacity(scanned.len());

    for (number, line) in scanned.iter().enumerate() {
        // A line that closes part of what an earlier line opened (`}, {` inside
        // `[{ … }]`) sits at that earlier line's level, and what it reopens joins it.
        let partial = close_brackets(&mut open_per_line, line.leading_closers);
        let level = open_per_line.len() - usize::from(partial);
        let rest = line.net_brackets + line.leading_closers as isize;
        if rest > 0 {
            match open_per_line.last_mut() {
                Some(top) if partial => *top += rest as usize,
                _ => open_per_line.push(rest as usize),
            }
        } else if rest < 0 {
            close_brackets(&mut open_per_line, rest.unsigned_abs());
        }

        match line.start {
            LineStart::Heredoc => {
                let Some((opener_level, indented, body)) = &mut heredoc else {
                    out.push(OutLine::Verbatim(line.text.to_owned()));
                    continue;
                };
                body.push(line.text);
                if !line.ends_inside {
                    out.extend(heredoc_lines(
                        body,
                        *opener_level,
                        *indented && reindent_heredocs,
                    ));
                    heredoc = None;
                }
            }
            LineStart::Template => {
                out.push(OutLine::Verbatim(line.text.to_owned()));
            }
            LineStart::BlockComment => {
                // Comment text is kept; only trailing blanks go.
                out.push(OutLine::Verbatim(line.text.trim_end().to_owned()));
            }
            LineStart::Code => {
                let text = line.text.trim();
                if text.is_empty() {
                    out.push(OutLine::Blank);
                    continue;
                }
                if line.opens_heredoc {
                    heredoc = Some((level, line.opens_indented_heredoc, Vec::new()));
                }
                out.push(code_line(line, level, block_ends.contains(&number)));
            }
        }
    }

    let out = normalise_blank_lines(out);
    render(&out)
}

/// Closes `closed` brackets; true when the last line's openings were only partly
/// closed.
/// The lines of one heredoc, body and closing marker. An indented heredoc (`<<-`)
/// gets its body one level deeper than the line that opened it and its marker at that
/// line's level, every body line moved by the same amount so that the text it means
/// stays the same; other heredocs are content, kept byte for byte.
fn heredoc_lines(lines: &[&str], opener_level: usize, reindent: bool) -> Vec<OutLine> {
    let verbatim = || {
        lines
            .iter()
            .map(|l| OutLine::Verbatim((*l).to_owned()))
            .collect()
    };
    let Some((marker, body)) = lines.split_last() else {
        return Vec::new();
    };
    if !reindent {
        return verbatim();
    }
    let leading = |line: &str| line.len() - line.trim_start_matches(' ').len();
    // Tabs in the indentation make "the same amount" ambiguous: leave those alone.
    let content = body.iter().filter(|line| !line.trim().is_empty());
    if content
        .clone()
        .any(|line| line.trim_start_matches(' ').starts_with('\t'))
    {
        return verbatim();
    }
    let Some(current) = content.map(|line| leading(line)).min() else {
        return verbatim();
    };
    let target = (opener_level + 1) * 2;
    let mut out: Vec<OutLine> = body
        .iter()
        .map(|line| {
            if line.trim().is_empty() {
                OutLine::Verbatim((*line).to_owned())
            } else {
                let indent = leading(line) - current + target;
                OutLine::Verbatim(format!("{}{}", " ".repeat(indent), &line[leading(line)..]))
            }
        })
        .collect();
    out.push(OutLine::Verbatim(format!(
        "{}{}",
        " ".repeat(opener_level * 2),
        marker.trim()
    )));
    out
}

fn close_brackets(open_per_line: &mut Vec<usize>, mut closed: usize) -> bool {
    while closed > 0 {
        let Some(top) = open_per_line.last_mut() else {
            return false;
        };
        if closed >= *top {
            closed -= *top;
            open_per_line.pop();
        } else {
            *top -= closed;
            return true;
        }
    }
    false
}

fn code_line(line: &ScannedLine<'_>, level: usize, ends_block: bool) -> OutLine {
    // A line ending inside a string, comment or heredoc keeps its tail as written.
    let trimmed_start = line.text.trim_start();
    let leading = line.text.len() - trimmed_start.len();
    let text = if line.ends_inside && !line.opens_heredoc {
        trimmed_start.to_owned()
    } else {
        trimmed_start.trim_end().to_owned()
    };
    let single_line = line.net_brackets == 0
        && line.leading_closers == 0
        && !line.opens_heredoc
        && !line.ends_inside;
    let mut attribute = None;
    let mut text_out = text.clone();
    if let Some(eq) = line.assign.and_then(|eq| eq.checked_sub(leading)) {
        let key = text[..eq].trim_end();
        let value = text[eq + 1..].trim_start();
        if !key.is_empty() {
            if single_line && !value.is_empty() {
                let comment = line
                    .trailing_comment
                    .and_then(|at| at.checked_sub(leading))
                    .filter(|at| *at > eq);
                attribute = Some(match comment {
                    Some(at) => AttributeLine {
                        key: key.to_owned(),
                        value: text[eq + 1..at].trim().to_owned(),
                        comment: Some(text[at..].to_owned()),
                    },
                    None => AttributeLine {
                        key: key.to_owned(),
                        value: value.to_owned(),
                        comment: None,
                    },
                });
            }
            text_out = if value.is_empty() {
                format!("{key} =")
            } else {
                format!("{key} = {value}")
            };
        }
    } else if line.net_brackets > 0
        && !line.comment_only
        && let Some(header) = block_header(&text)
    {
        text_out = header;
    }
    OutLine::Code {
        level,
        text: text_out,
        attribute,
        opens: line.net_brackets > 0 || line.opens_heredoc,
        starts_with_closer: line.leading_closers > 0,
        ends_block,
    }
}

/// `resource   "a"  "b"{` → `resource "a" "b" {`, when the line is exactly a block
/// header: an identifier, labels (identifiers or plain quoted strings) and `{`.
fn block_header(text: &str) -> Option<String> {
    let head = text.strip_suffix('{')?;
    let mut parts = Vec::new();
    let mut rest = head.trim();
    while !rest.is_empty() {
        if let Some(quoted) = rest.strip_prefix('"') {
            // Labels are plain strings: no escapes needed for the end quote search
            // unless a backslash appears, which we leave alone.
            let end = quoted.find('"')?;
            let label = &quoted[..end];
            if label.contains('\\') || label.contains("${") || label.contains("%{") {
                return None;
            }
            parts.push(&rest[..end + 2]);
            rest = quoted[end + 1..].trim_start();
        } else {
            let end = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-'))
                .unwrap_or(rest.len());
            if end == 0 {
                return None;
            }
            parts.push(&rest[..end]);
            rest = rest[end..].trim_start();
        }
    }
    if parts.is_empty() {
        return None;
    }
    Some(format!("{} {{", parts.join(" ")))
}

/// No blank lines at the start or end, after an opening line or before a closing
/// one; never two in a row; exactly one after a block that is followed by a sibling.
fn normalise_blank_lines(lines: Vec<OutLine>) -> Vec<OutLine> {
    let mut out: Vec<OutLine> = Vec::with_capacity(lines.len());
    let mut iter = lines.into_iter().peekable();
    while let Some(line) = iter.next() {
        match line {
            OutLine::Blank => {
                let after_opening_or_blank = match out.last() {
                    None | Some(OutLine::Blank) => true,
                    Some(OutLine::Code { opens, .. }) => *opens,
                    Some(OutLine::Verbatim(_)) => false,
                };
                // Look past further blanks to what follows.
                while matches!(iter.peek(), Some(OutLine::Blank)) {
                    iter.next();
                }
                let before_closing_or_end = match iter.peek() {
                    None => true,
                    Some(OutLine::Code {
                        starts_with_closer, ..
                    }) => *starts_with_closer,
                    _ => false,
                };
                if !after_opening_or_blank && !before_closing_or_end {
                    out.push(OutLine::Blank);
                }
            }
            line => {
                let needs_separation = matches!(
                    &line,
                    OutLine::Code {
                        ends_block: true,
                        ..
                    }
                ) && matches!(
                    iter.peek(),
                    Some(OutLine::Code {
                        starts_with_closer: false,
                        ..
                    })
                );
                out.push(line);
                if needs_separation {
                    out.push(OutLine::Blank);
                }
            }
        }
    }
    out
}

/// Renders lines, aligning `=` within each run of single-line attributes.
fn render(lines: &[OutLine]) -> String {
    let mut text = String::new();
    let mut index = 0;
    while index < lines.len() {
        // A run of consecutive single-line attributes (necessarily at one level).
        let run_end = lines[index..]
            .iter()
            .position(|line| {
                !matches!(
                    line,
                    OutLine::Code {
                        attribute: Some(_),
                        ..
                    }
                )
            })
            .map_or(lines.len(), |offset| index + offset);
        if run_end > index {
            let run: Vec<(usize, &AttributeLine)> = lines[index..run_end]
                .iter()
                .filter_map(|line| match line {
                    OutLine::Code {
                        level,
                        attribute: Some(attribute),
                        ..
                    } => Some((*level, attribute)),
                    _ => None,
                })
                .collect();
            render_attribute_run(&mut text, &run);
            index = run_end;
            continue;
        }
        match &lines[index] {
            OutLine::Blank => text.push('\n'),
            OutLine::Verbatim(line) => {
                text.push_str(line);
                text.push('\n');
            }
            OutLine::Code {
                level, text: line, ..
            } => {
                push_indent(&mut text, *level);
                text.push_str(line);
                text.push('\n');
            }
        }
        index += 1;
    }
    text
}

/// Aligns the `=` of a run of single-line attributes, and their trailing comments.
fn render_attribute_run(text: &mut String, run: &[(usize, &AttributeLine)]) {
    let key_width = run
        .iter()
        .map(|(_, attribute)| attribute.key.chars().count())
        .max()
        .unwrap_or(0);
    let value_width = run
        .iter()
        .filter(|(_, attribute)| attribute.comment.is_some())
        .map(|(_, attribute)| attribute.value.chars().count())
        .max()
        .unwrap_or(0);
    for (level, attribute) in run {
        push_indent(text, *level);
        text.push_str(&attribute.key);
        pad(text, key_width - attribute.key.chars().count());
        text.push_str(" = ");
        text.push_str(&attribute.value);
        if let Some(comment) = &attribute.comment {
            pad(text, value_width - attribute.value.chars().count() + 1);
            text.push_str(comment);
        }
        text.push('\n');
    }
}

fn pad(text: &mut String, width: usize) {
    text.extend(std::iter::repeat_n(' ', width));
}

fn push_indent(text: &mut String, level: usize) {
    text.extend(std::iter::repeat_n(' ', level * 2));
}

#[cfg(test)]
mod tests;
