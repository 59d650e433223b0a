//! `Ui`: owns every byte failback writes to the terminal.
//!
//! Data (plans, JSON, DOT, Markdown) goes to stdout; status, warnings and diagnostics
//! go to stderr. Commands never print directly, so that colour, `NO_COLOR` and
//! machine-readable modes are decided in one place.

use std::io::{IsTerminal, Write};

use crate::command_error::CommandError;
use crate::commands::{ColorChoice, GlobalArgs};
use crate::progress::DiscoveryProgress;

#[derive(Debug, Clone)]
pub struct Ui {
    color: bool,
    stdout_is_terminal: bool,
    /// Status lines only: no progress display.
    quiet_stderr: bool,
}

impl Ui {
    pub fn new(global: &GlobalArgs) -> Ui {
        let stdout_is_terminal = std::io::stdout().is_terminal();
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|value| !value.is_empty());
        let color = match global.color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => stdout_is_terminal && !no_color,
        };
        Ui {
            color,
            stdout_is_terminal,
            quiet_stderr: false,
        }
    }

    /// A `Ui` for status lines only (a signal handler's messages), without colour.
    pub fn status_only() -> Ui {
        Ui {
            color: false,
            stdout_is_terminal: false,
            quiet_stderr: true,
        }
    }

    /// Writes a question to stderr without a line break, for an answer on stdin.
    pub fn prompt(&mut self, question: &str) {
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "{question}");
        let _ = err.flush();
    }

    /// Whether output may carry ANSI colours.
    pub fn color(&self) -> bool {
        self.color
    }

    /// Whether stdout is an interactive terminal (prompts, progress bars).
    pub fn is_terminal(&self) -> bool {
        self.stdout_is_terminal
    }

    /// How discovery shows its progress: spinners when stderr is a terminal.
    pub fn discovery_progress(&self) -> DiscoveryProgress {
        if self.quiet_stderr {
            DiscoveryProgress::Hidden
        } else {
            DiscoveryProgress::for_stderr()
        }
    }

    /// Writes data to stdout.
    pub fn write_data(&mut self, text: &str) {
        let mut out = std::io::stdout().lock();
        // A closed pipe (`failback plan | head`) is not an error worth a panic.
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }

    /// Writes a status line to stderr.
    pub fn status(&mut self, line: &str) {
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "{line}");
    }

    /// Renders a diagnostic (miette) to stderr.
    pub fn report_diagnostic(&mut self, report: &miette::Report) {
        let handler = miette::GraphicalReportHandler::new_themed(if self.color {
            miette::GraphicalTheme::unicode()
        } else {
            miette::GraphicalTheme::unicode_nocolor()
        });
        let mut rendered = String::new();
        if handler
            .render_report(&mut rendered, report.as_ref())
            .is_err()
        {
            rendered = format!("{report}");
        }
        self.status(&rendered);
    }

    /// Renders every report of a failed command.
    pub fn report_error(&mut self, err: &CommandError) {
        for report in &err.reports {
            self.report_diagnostic(report);
        }
    }
}
