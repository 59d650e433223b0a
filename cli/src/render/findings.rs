//! Findings as miette diagnostics: the rule id as the code, the remediation as help,
//! and, when the configuration's text is at hand, the HCL snippet that declared the
//! object with a label saying what was observed.

use std::fmt;

use failback_engine::rules::{Finding, Severity, Status};
use miette::{
    Diagnostic, GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteError,
    MietteSpanContents, SourceCode, SourceSpan, SpanContents,
};

use super::Sources;

/// Width diagnostics are wrapped at, fixed so that output does not depend on the
/// terminal it was made on.
const WIDTH: usize = 100;

/// One finding, ready for miette.
#[derive(Debug)]
pub struct FindingDiagnostic {
    message: String,
    rule: String,
    severity: miette::Severity,
    help: String,
    label: String,
    source: Option<Excerpt>,
    span: (usize, usize),
}

impl FindingDiagnostic {
    pub fn new(finding: &Finding, sources: &Sources) -> FindingDiagnostic {
        let file = finding.span.file.to_string_lossy().into_owned();
        let text = sources.get(&file);
        let location = format!("{file}:{}:{}", finding.span.line, finding.span.column);
        // A could-not-check finding's message already says what could not be checked
        // and why (`could not check that …: reason`).
        let mut message = format!("{}: {}", finding.address, finding.message);
        if let Status::CouldNotCheck { reason } = &finding.status
            && !finding.message.contains(reason.as_str())
        {
            message.push_str(&format!(" (could not check: {reason})"));
        }
        if let Some(reason) = &finding.acknowledged {
            message.push_str(&format!(" [acknowledged: {reason}]"));
        }
        let severity = match (finding.acknowledged.is_some(), finding.severity) {
            (true, _) | (false, Severity::Advice) => miette::Severity::Advice,
            (false, Severity::Warning) => miette::Severity::Warning,
            (false, Severity::Error) => miette::Severity::Error,
        };
        let label = match &finding.observed {
            Some(observed) => format!("observed: {observed}"),
            None => "declared here".to_owned(),
        };
        let source = text
            .filter(|text| finding.span.end <= text.len() && finding.span.start <= finding.span.end)
            .and_then(|text| Excerpt::around(&file, text, finding));
        // Without the file's text there is no snippet to carry the label: keep what
        // was observed and where the object was declared in the message.
        if source.is_none() {
            if let Some(observed) = &finding.observed {
                message.push_str(&format!("; observed: {observed}"));
            }
            if finding.span.line > 0 {
                message.push_str(&format!(" (declared at {location})"));
            }
        }
        FindingDiagnostic {
            message,
            rule: finding.rule.clone(),
            severity,
            help: finding.remediation.clone(),
            label,
            source,
            span: (
                finding.span.start,
                finding.span.end.saturating_sub(finding.span.start),
            ),
        }
    }
}

impl fmt::Display for FindingDiagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for FindingDiagnostic {}

impl Diagnostic for FindingDiagnostic {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(&self.rule))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(self.severity)
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(&self.help))
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.source
            .as_ref()
            .map(|source| source as &dyn miette::SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        self.source.as_ref()?;
        Some(Box::new(std::iter::once(LabeledSpan::new_with_span(
            Some(self.label.clone()),
            self.span,
        ))))
    }
}

/// Lines shown around a snippet (miette shows one; a little more in case).
const EXCERPT_CONTEXT_LINES: usize = 2;

/// The few lines of a file around a span, so that a diagnostic neither copies nor
/// scans a configuration of thousands of blocks once per finding. Spans and line
/// numbers stay those of the whole file.
#[derive(Debug)]
struct Excerpt {
    name: String,
    text: String,
    /// Byte offset of `text` in the file.
    offset: usize,
    /// 0-based line number of `text`'s first line in the file.
    first_line: usize,
}

impl Excerpt {
    fn around(name: &str, file: &str, finding: &Finding) -> Option<Excerpt> {
        let (start, end) = (finding.span.start, finding.span.end);
        if !file.is_char_boundary(start) || !file.is_char_boundary(end) {
            return None;
        }
        let mut excerpt_start = file[..start].rfind('\n').map_or(0, |i| i + 1);
        let mut lines_back = 0;
        while lines_back < EXCERPT_CONTEXT_LINES && excerpt_start > 0 {
            excerpt_start = file[..excerpt_start - 1].rfind('\n').map_or(0, |i| i + 1);
            lines_back += 1;
        }
        let mut excerpt_end = end;
        for _ in 0..=EXCERPT_CONTEXT_LINES {
            match file[excerpt_end..].find('\n') {
                Some(i) => excerpt_end += i + 1,
                None => {
                    excerpt_end = file.len();
                    break;
                }
            }
        }
        let first_line = if finding.span.line > lines_back {
            finding.span.line - 1 - lines_back
        } else {
            file[..excerpt_start]
                .bytes()
                .filter(|b| *b == b'\n')
                .count()
        };
        Some(Excerpt {
            name: name.to_owned(),
            text: file[excerpt_start..excerpt_end].to_owned(),
            offset: excerpt_start,
            first_line,
        })
    }
}

impl SourceCode for Excerpt {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, MietteError> {
        let local_offset = span
            .offset()
            .checked_sub(self.offset)
            .ok_or(MietteError::OutOfBounds)?;
        let local = SourceSpan::new(local_offset.into(), span.len());
        let inner = self
            .text
            .read_span(&local, context_lines_before, context_lines_after)?;
        Ok(Box::new(MietteSpanContents::new_named(
            self.name.clone(),
            inner.data(),
            SourceSpan::new(
                (inner.span().offset() + self.offset).into(),
                inner.span().len(),
            ),
            inner.line() + self.first_line,
            inner.column(),
            inner.line_count(),
        )))
    }
}

/// Renders one finding as text, with colours or without.
pub fn render_finding(finding: &Finding, sources: &Sources, color: bool) -> String {
    let diagnostic = FindingDiagnostic::new(finding, sources);
    let theme = if color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let handler = GraphicalReportHandler::new_themed(theme)
        .with_width(WIDTH)
        .with_links(false);
    let mut out = String::new();
    if handler.render_report(&mut out, &diagnostic).is_err() {
        out = format!(
            "{}[{}]: {}\n  help: {}\n",
            severity_word(finding),
            finding.rule,
            diagnostic,
            finding.remediation
        );
    }
    out
}

pub fn severity_word(finding: &Finding) -> &'static str {
    if finding.acknowledged.is_some() {
        return "acknowledged";
    }
    match finding.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Advice => "advice",
    }
}
