//! `failback fmt`: rewrites configuration files in the canonical format.

use std::path::{Path, PathBuf};

use failback_engine::format::format_source;
use failback_engine::state::atomic;
use owo_colors::OwoColorize;

use crate::command_error::{CommandError, Exit};
use crate::commands::GlobalArgs;
use crate::ui::Ui;

/// Rewrite configuration files in the canonical format.
///
/// Formats every `*.hcl` file of the configuration directory (or the FILES given) as
/// `terraform fmt` does: two-space indentation, `=` aligned within runs of
/// single-line attributes, one blank line between blocks, no trailing whitespace.
/// Comments and plain heredoc bodies (`<<EOT`) are kept exactly; multi-line
/// expressions and indented heredocs (`<<-EOT`) are re-indented, never reflowed. The
/// names of changed files are printed.
///
/// Exit status: 0 when every file is (now) formatted, 1 when a file could not be read
/// or parsed (it is left untouched and reported), 3 with `--check` when a file is not
/// formatted.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Write nothing; list the files that are not formatted and exit 3 if there are any.
    #[arg(long)]
    pub check: bool,
    /// Print a unified diff of the changes to stdout.
    #[arg(long)]
    pub diff: bool,
    /// Also format `*.hcl` files in subdirectories.
    #[arg(long)]
    pub recursive: bool,
    /// Files or directories to format, relative to -C DIR (default: the directory).
    #[arg(value_name = "FILES")]
    pub files: Vec<PathBuf>,
}

pub fn cmd_fmt(ui: &mut Ui, global: &GlobalArgs, args: &Args) -> Result<Exit, CommandError> {
    let files = collect_files(&global.chdir, args)?;
    let mut reports = Vec::new();
    let mut changed = 0usize;

    for (path, shown) in &files {
        let source = match std::fs::read_to_string(path) {
            Ok(source) => source,
            Err(err) => {
                reports.push(miette::miette!(
                    help = "check the path and its permissions",
                    "cannot read {}: {err}",
                    shown.display()
                ));
                continue;
            }
        };
        let formatted = match format_source(&source) {
            Ok(formatted) => formatted,
            Err(err) => {
                reports.push(miette::Report::new(err.to_diagnostic(shown, &source)));
                continue;
            }
        };
        if formatted == source {
            continue;
        }
        changed += 1;
        if args.diff {
            let diff = unified_diff(Ui::color(ui), shown, &source, &formatted);
            ui.write_data(&diff);
        } else {
            ui.write_data(&format!("{}\n", shown.display()));
        }
        if !args.check {
            // Keep the file's own permissions: fmt must not widen or narrow access.
            let permissions = std::fs::metadata(path).ok().map(|m| m.permissions());
            if let Err(err) = atomic::write_atomically(path, formatted.as_bytes(), permissions) {
                reports.push(miette::miette!(
                    help = "the file was left as it was",
                    "cannot write {}: {err}",
                    shown.display()
                ));
            }
        }
    }

    if !reports.is_empty() {
        return Err(CommandError::many(reports));
    }
    if args.check && changed > 0 {
        let noun = if changed == 1 {
            "file needs"
        } else {
            "files need"
        };
        ui.status(&format!(
            "{changed} {noun} formatting; run `failback fmt` to fix"
        ));
        return Ok(Exit::FormatNeeded);
    }
    Ok(Exit::Success)
}

/// The files to format, each with the path to show (relative to -C DIR when given
/// relative), sorted and without duplicates.
fn collect_files(dir: &Path, args: &Args) -> Result<Vec<(PathBuf, PathBuf)>, CommandError> {
    let roots: Vec<PathBuf> = if args.files.is_empty() {
        vec![PathBuf::new()]
    } else {
        args.files.clone()
    };
    let mut files = Vec::new();
    for root in roots {
        let full = dir.join(&root);
        let metadata = std::fs::metadata(&full).map_err(|err| {
            CommandError::user(miette::miette!(
                help = "give a file or directory inside the configuration directory (-C DIR)",
                "cannot read {}: {err}",
                display_or_dot(&root).display()
            ))
        })?;
        if metadata.is_dir() {
            collect_dir(&full, &root, args.recursive, &mut files)?;
        } else {
            files.push((full, root));
        }
    }
    files.sort();
    files.dedup();
    Ok(files)
}

fn collect_dir(
    full: &Path,
    shown: &Path,
    recursive: bool,
    files: &mut Vec<(PathBuf, PathBuf)>,
) -> Result<(), CommandError> {
    let entries = std::fs::read_dir(full).map_err(|err| {
        CommandError::user(miette::miette!(
            "cannot list {}: {err}",
            display_or_dot(shown).display()
        ))
    })?;
    for entry in entries {
        let entry = entry.map_err(|err| {
            CommandError::user(miette::miette!(
                "cannot list {}: {err}",
                display_or_dot(shown).display()
            ))
        })?;
        let name = entry.file_name();
        let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
        // Hidden entries are tool state (.git, .terraform), never configuration.
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        if is_dir {
            if recursive {
                collect_dir(&entry.path(), &shown.join(&name), recursive, files)?;
            }
        } else if Path::new(&name).extension().is_some_and(|ext| ext == "hcl") {
            files.push((entry.path(), shown.join(&name)));
        }
    }
    Ok(())
}

fn display_or_dot(path: &Path) -> &Path {
    if path.as_os_str().is_empty() {
        Path::new(".")
    } else {
        path
    }
}

/// A unified diff of one file, `--- a/FILE` / `+++ b/FILE` as git shows it.
fn unified_diff(color: bool, shown: &Path, old: &str, new: &str) -> String {
    let name = shown.display().to_string();
    let diff = similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{name}"), &format!("b/{name}"))
        .to_string();
    if !color {
        return diff;
    }
    diff.lines()
        .map(|line| {
            let colored = if line.starts_with("+++") || line.starts_with("---") {
                line.bold().to_string()
            } else if line.starts_with('+') {
                line.green().to_string()
            } else if line.starts_with('-') {
                line.red().to_string()
            } else if line.starts_with("@@") {
                line.cyan().to_string()
            } else {
                line.to_owned()
            };
            colored + "\n"
        })
        .collect()
}
