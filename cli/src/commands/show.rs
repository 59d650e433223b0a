//! `failback show FILE`: render a saved plan as text, `--json` or `--markdown`,
//! exactly as `plan` would have, without discovering anything.

use std::path::{Path, PathBuf};

use failback_engine::plan::{PLAN_FORMAT_VERSION, Plan};
use miette::miette;

use crate::command_error::{CommandError, Exit};
use crate::commands::GlobalArgs;
use crate::render::markdown::ApplyHint;
use crate::render::{self, Paint, Sources};
use crate::ui::Ui;

/// Show a saved plan (from `failback plan --out FILE`).
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// The saved plan.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Print the plan as JSON (see docs/plan-json.md) instead of text.
    #[arg(long, conflicts_with = "markdown")]
    pub json: bool,
    /// Print the plan as a pull-request comment in Markdown.
    #[arg(long)]
    pub markdown: bool,
}

/// `failback show FILE`.
pub fn cmd_show(ui: &mut Ui, global: &GlobalArgs, args: &Args) -> Result<Exit, CommandError> {
    let rendered = show(&global.chdir, args, Paint::new(ui.color()))?;
    ui.write_data(&rendered);
    Ok(Exit::Success)
}

/// Reads and renders a saved plan.
pub fn show(dir: &Path, args: &Args, paint: Paint) -> Result<String, CommandError> {
    let path = dir.join(&args.file);
    let plan = read_plan(&path)?;
    // The configuration's text is not part of a saved plan (it may hold literal
    // secrets); findings keep their file:line instead of a snippet.
    let sources = Sources::new();
    Ok(
        match super::plan::Format::from_flags(args.json, args.markdown) {
            super::plan::Format::Human => render::human::render(&plan, &sources, paint),
            super::plan::Format::Json => render::json::render(&plan),
            super::plan::Format::Markdown => {
                // The same command `plan --out` printed: `-C DIR` stays when it was given.
                let command = super::plan::apply_command(dir, &args.file);
                render::markdown::render(&plan, &sources, &ApplyHint::Command(command))
            }
        },
    )
}

/// Reads a saved plan, refusing other formats with a message that says what to do.
pub fn read_plan(path: &Path) -> Result<Plan, CommandError> {
    let text = std::fs::read_to_string(path).map_err(|err| {
        CommandError::user(miette!(
            help = "give the file `failback plan --out FILE` wrote",
            "cannot read the plan {}: {err}",
            path.display()
        ))
    })?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|err| {
        CommandError::user(miette!(
            help = "the file is not JSON: was it written by `failback plan --out`?",
            "{} is not a failback plan: {err}",
            path.display()
        ))
    })?;
    let version = value
        .get("format_version")
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| {
            CommandError::user(miette!(
                help = "was it written by `failback plan --out`? (`plan --json` output is \
                        a rendering, not a saved plan)",
                "{} is not a failback plan: it has no format_version",
                path.display()
            ))
        })?;
    if !Plan::is_readable_format(version) {
        return Err(CommandError::user(miette!(
            help = "make the plan again with this failback, or use the failback that wrote it",
            "{} is a plan of format {version}; this failback reads {PLAN_FORMAT_VERSION} and \
             compatible versions",
            path.display()
        )));
    }
    serde_path_to_error::deserialize(value).map_err(|err| {
        CommandError::user(miette!(
            help = "the file was changed after failback wrote it; make the plan again",
            "{} is not a valid plan: at {}: {}",
            path.display(),
            err.path(),
            err.inner()
        ))
    })
}
