//! Configuration diagnostics: what loading found wrong, where (file, byte range, line
//! and column), and what to do about it; rendered with miette for people and as plain
//! data for `--json`.
//!
//! Loading never stops at the first problem: every check pushes into one
//! [`Diagnostics`] list, and the caller decides from [`Diagnostics::has_errors`].

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use miette::{LabeledSpan, NamedSource, SourceCode};
use serde::Serialize;

use super::model::Span;
use crate::rules::Severity;

/// The text of every loaded file, by its path relative to the configuration directory,
/// so that diagnostics (and findings of rules, later) can show the lines they point at.
#[derive(Clone, Default, PartialEq)]
pub struct Sources {
    files: BTreeMap<PathBuf, Arc<SourceFile>>,
}

/// One loaded file with the byte offsets where its lines start.
#[derive(PartialEq)]
pub struct SourceFile {
    pub path: PathBuf,
    pub text: String,
    line_starts: Vec<usize>,
}

impl SourceFile {
    pub fn new(path: PathBuf, text: String) -> SourceFile {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(at, _)| at + 1));
        SourceFile {
            path,
            text,
            line_starts,
        }
    }

    /// The 1-based line and column (in characters) of a byte offset.
    pub fn line_column(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = self.line_starts.partition_point(|&start| start <= offset);
        let start = self
            .line_starts
            .get(line.saturating_sub(1))
            .copied()
            .unwrap_or(0);
        let column = self
            .text
            .get(start..offset)
            .map_or(offset - start, |prefix| prefix.chars().count());
        (line.max(1), column + 1)
    }

    /// A [`Span`] for a byte range of this file.
    pub fn span(&self, range: Range<usize>) -> Span {
        let (line, column) = self.line_column(range.start);
        Span {
            file: self.path.clone(),
            start: range.start,
            end: range.end.max(range.start),
            line,
            column,
        }
    }
}

impl fmt::Debug for Sources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.files.keys()).finish()
    }
}

impl Sources {
    pub fn insert(&mut self, file: SourceFile) -> Arc<SourceFile> {
        let file = Arc::new(file);
        self.files.insert(file.path.clone(), file.clone());
        file
    }

    pub fn get(&self, path: &Path) -> Option<&Arc<SourceFile>> {
        self.files.get(path)
    }

    pub fn files(&self) -> impl Iterator<Item = &Arc<SourceFile>> {
        self.files.values()
    }
}

/// One problem found in the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// `config::unknown_attribute`, or a rule id such as `FB118`.
    pub code: String,
    pub severity: Severity,
    /// What is wrong, in one sentence.
    pub message: String,
    /// What to do.
    pub help: Option<String>,
    /// Where, when it is somewhere in a file.
    pub span: Option<Span>,
    /// The text of the label on `span`.
    pub label: String,
    /// Further places that explain the problem (e.g. the first declaration of a
    /// duplicate), with their label texts.
    pub related: Vec<(Span, String)>,
}

impl Diagnostic {
    pub fn error(code: &str, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            code: code.to_owned(),
            severity: Severity::Error,
            message: message.into(),
            help: None,
            span: None,
            label: String::new(),
            related: Vec::new(),
        }
    }

    pub fn warning(code: &str, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, message)
        }
    }

    pub fn at(mut self, span: Span, label: impl Into<String>) -> Diagnostic {
        self.span = Some(span);
        self.label = label.into();
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    pub fn related(mut self, span: Span, label: impl Into<String>) -> Diagnostic {
        self.related.push((span, label.into()));
        self
    }

    /// The sort key that keeps output stable: file, position, code.
    fn order_key(&self) -> (Option<&Path>, usize, &str, &str) {
        (
            self.span.as_ref().map(|s| s.file.as_path()),
            self.span.as_ref().map_or(0, |s| s.start),
            &self.code,
            &self.message,
        )
    }
}

/// Every diagnostic of one load, with the sources they point into.
#[derive(Debug, Clone, Default)]
pub struct Diagnostics {
    pub items: Vec<Diagnostic>,
    pub sources: Sources,
}

impl Diagnostics {
    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.items.push(diagnostic);
    }

    pub fn has_errors(&self) -> bool {
        self.items.iter().any(|d| d.severity == Severity::Error)
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Sorts by file and position and drops exact duplicates (the same problem found
    /// through two paths, e.g. once per `for_each` instance).
    pub fn sort(&mut self) {
        self.items.sort_by(|a, b| a.order_key().cmp(&b.order_key()));
        self.items.dedup();
    }

    /// miette reports, one per diagnostic, each carrying its source file.
    pub fn to_reports(&self) -> Vec<miette::Report> {
        self.items
            .iter()
            .map(|d| miette::Report::new(Rendered::new(d, &self.sources)))
            .collect()
    }

    /// The diagnostics as miette renders them, without colour, at a fixed width: what
    /// snapshot tests pin.
    pub fn render_plain(&self, width: usize) -> String {
        let handler =
            miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
                .with_width(width);
        let mut out = String::new();
        for d in &self.items {
            let rendered = Rendered::new(d, &self.sources);
            if handler.render_report(&mut out, &rendered).is_err() {
                out.push_str(&d.message);
            }
            out.push('\n');
        }
        out
    }

    /// The machine-readable form of `validate --json`.
    pub fn to_json(&self) -> Vec<serde_json::Value> {
        self.items
            .iter()
            .map(|d| {
                serde_json::json!({
                    "code": d.code,
                    "severity": d.severity,
                    "file": d.span.as_ref().map(|s| s.file.display().to_string()),
                    "line": d.span.as_ref().map(|s| s.line),
                    "column": d.span.as_ref().map(|s| s.column),
                    "message": d.message,
                    "help": d.help,
                })
            })
            .collect()
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.items {
            match &d.span {
                Some(s) => writeln!(
                    f,
                    "{}:{}:{}: {} [{}]",
                    s.file.display(),
                    s.line,
                    s.column,
                    d.message,
                    d.code
                )?,
                None => writeln!(f, "{} [{}]", d.message, d.code)?,
            }
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

/// A diagnostic joined with its file's text, in the shape miette renders.
#[derive(Debug)]
struct Rendered {
    diagnostic: Diagnostic,
    source: Option<NamedSource<String>>,
}

impl Rendered {
    fn new(diagnostic: &Diagnostic, sources: &Sources) -> Rendered {
        let source = diagnostic
            .span
            .as_ref()
            .and_then(|span| sources.get(&span.file))
            .map(|file| {
                NamedSource::new(file.path.display().to_string(), file.text.clone())
                    .with_language("hcl")
            });
        Rendered {
            diagnostic: diagnostic.clone(),
            source,
        }
    }
}

impl fmt::Display for Rendered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.diagnostic.message)
    }
}

impl std::error::Error for Rendered {}

impl miette::Diagnostic for Rendered {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(&self.diagnostic.code))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.diagnostic.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
            Severity::Advice => miette::Severity::Advice,
        })
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.diagnostic
            .help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.source.as_ref().map(|s| s as &dyn SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let primary = self.diagnostic.span.as_ref()?;
        self.source.as_ref()?;
        let mut labels = vec![LabeledSpan::new_primary_with_span(
            Some(self.diagnostic.label.clone()).filter(|l| !l.is_empty()),
            primary.start..primary.end,
        )];
        for (span, label) in &self.diagnostic.related {
            if span.file == primary.file {
                labels.push(LabeledSpan::new_with_span(
                    Some(label.clone()),
                    span.start..span.end,
                ));
            }
        }
        Some(Box::new(labels.into_iter()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_count_characters() {
        let file = SourceFile::new("a.hcl".into(), "ab\n  é x\n".to_owned());
        assert_eq!(file.line_column(0), (1, 1));
        assert_eq!(file.line_column(3), (2, 1));
        // `x` is after a two-byte character: column counts characters, not bytes.
        assert_eq!(file.line_column(8), (2, 5));
        assert_eq!(file.line_column(999), (3, 1));
    }
}
