//! `failback validate`: checks the configuration offline (syntax, schema, references,
//! types, variables, cycles, and the rules that need no discovery) and reports every
//! problem at once.

use clap::Args as ClapArgs;
use failback_engine::config::{Config, Diagnostic, Diagnostics};
use failback_engine::rules::{self, Severity};

use crate::command_error::{CommandError, Exit};
use crate::commands::GlobalArgs;
use crate::commands::config_args::{ConfigArgs, load_config};
use crate::ui::Ui;

/// Check the configuration without contacting vCenter or Azure.
///
/// Loads every *.hcl file of the directory, evaluates variables, locals and
/// references, and runs the rules that need no discovery (FB118). Reports every
/// problem with its file, line and column. Exits 0 when the configuration is valid,
/// 1 otherwise.
#[derive(Debug, Clone, ClapArgs)]
pub struct Args {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Print `{"valid": bool, "diagnostics": [...]}` on stdout instead of the
    /// human-readable report.
    #[arg(long)]
    pub json: bool,
}

pub fn cmd_validate(ui: &mut Ui, global: &GlobalArgs, args: &Args) -> Result<Exit, CommandError> {
    let loaded = load_config(global, &args.config);
    let mut diagnostics = loaded.diagnostics;
    if !diagnostics.has_errors() {
        for diagnostic in rule_diagnostics(&loaded.config) {
            diagnostics.push(diagnostic);
        }
        diagnostics.sort();
    }
    let valid = !diagnostics.has_errors();
    if args.json {
        let report = serde_json::json!({
            "valid": valid,
            "diagnostics": diagnostics.to_json(),
        });
        let text = serde_json::to_string_pretty(&report)
            .map_err(|e| CommandError::user(miette::miette!("cannot encode the report: {e}")))?;
        ui.write_data(&format!("{text}\n"));
    } else {
        for report in diagnostics.to_reports() {
            ui.report_diagnostic(&report);
        }
        ui.status(&summary(&diagnostics, valid));
    }
    Ok(if valid { Exit::Success } else { Exit::Error })
}

/// The findings of the rules that need no discovery, as diagnostics with the rule
/// id as their code. An acknowledged finding is shown as advice and does not fail.
fn rule_diagnostics(config: &Config) -> Vec<Diagnostic> {
    rules::check_config(config)
        .into_iter()
        .map(|finding| {
            let acknowledged = finding.acknowledged.clone().or_else(|| {
                config
                    .acknowledgements(&finding.address)
                    .iter()
                    .find(|ack| ack.rule == finding.rule)
                    .map(|ack| ack.reason.clone())
            });
            let (severity, message) = match &acknowledged {
                Some(reason) => (
                    Severity::Advice,
                    format!("{} (acknowledged: {reason})", finding.message),
                ),
                None => (finding.severity, finding.message.clone()),
            };
            let mut diagnostic = Diagnostic::error(&finding.rule, message)
                .at(
                    finding.span.clone(),
                    format!("{} applies here", finding.rule),
                )
                .help(finding.remediation.clone());
            diagnostic.severity = severity;
            diagnostic
        })
        .collect()
}

fn summary(diagnostics: &Diagnostics, valid: bool) -> String {
    let count = |severity| {
        diagnostics
            .items
            .iter()
            .filter(|d| d.severity == severity)
            .count()
    };
    let (errors, warnings) = (count(Severity::Error), count(Severity::Warning));
    if valid {
        match warnings {
            0 => "Success! The configuration is valid.".to_owned(),
            1 => "The configuration is valid, with 1 warning.".to_owned(),
            n => format!("The configuration is valid, with {n} warnings."),
        }
    } else {
        let plural = |n: usize, word: &str| {
            if n == 1 {
                format!("{n} {word}")
            } else {
                format!("{n} {word}s")
            }
        };
        format!(
            "The configuration is invalid: {}, {}.",
            plural(errors, "error"),
            plural(warnings, "warning")
        )
    }
}
