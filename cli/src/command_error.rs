//! `CommandError`: what a command returns when it fails, carrying the user-facing
//! report separately from the exit code it maps to.

/// Exit codes, as Terraform's: 0 success, 1 error, 2 changes or drift (only with
/// `--detailed-exitcode` or `drift`), 3 formatting needed (`fmt --check`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Success = 0,
    Error = 1,
    Changes = 2,
    FormatNeeded = 3,
}

impl From<Exit> for std::process::ExitCode {
    fn from(exit: Exit) -> Self {
        std::process::ExitCode::from(exit as u8)
    }
}

/// A failed command: one or more diagnostics to show, and the exit code.
#[derive(Debug)]
pub struct CommandError {
    pub reports: Vec<miette::Report>,
    pub exit: Exit,
}

impl CommandError {
    /// A user error (bad input, refused operation): exit 1.
    pub fn user(report: impl Into<miette::Report>) -> Self {
        CommandError {
            reports: vec![report.into()],
            exit: Exit::Error,
        }
    }

    /// Several diagnostics at once, e.g. every error of a configuration.
    pub fn many(reports: Vec<miette::Report>) -> Self {
        CommandError {
            reports,
            exit: Exit::Error,
        }
    }

    pub fn exit_code(&self) -> Exit {
        self.exit
    }
}

impl<E> From<E> for CommandError
where
    E: std::error::Error + Send + Sync + 'static,
{
    fn from(err: E) -> Self {
        CommandError::user(miette::Report::msg(err.to_string()))
    }
}
