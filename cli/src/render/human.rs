//! The human rendering: a summary line, then the actions in execution order with
//! Terraform's markers (`+` reprotect, `~` fix, `-` destructive removal, `<=` wait),
//! the recovery-plan units, drift, what cannot be planned, and the findings with
//! their HCL snippets.

use std::fmt::Write as _;

use failback_engine::config::Address;
use failback_engine::plan::{ChangeKind, Plan, PlannedAction};

use super::findings::render_finding;
use super::values::write_attribute_lines;
use super::{Paint, Sources, summary_line};

/// Above this many unchanged reprotects, only their count is listed.
const LIST_UNCHANGED_UP_TO: usize = 20;

fn marker(action: &PlannedAction, paint: Paint) -> String {
    match action.change {
        ChangeKind::Create => paint.green("+"),
        ChangeKind::Update => paint.yellow("~"),
        ChangeKind::Delete => paint.red("-"),
        ChangeKind::Read => paint.cyan("<="),
    }
}

fn verb(action: &PlannedAction) -> &'static str {
    match action.change {
        ChangeKind::Create => "will be reprotected",
        ChangeKind::Update => "will be fixed",
        ChangeKind::Delete => "will be fixed by removing data",
        ChangeKind::Read => "waits for the agent",
    }
}

/// Renders the whole plan.
pub fn render(plan: &Plan, sources: &Sources, paint: Paint) -> String {
    let mut out = render_actions(plan, paint);
    out.push_str(&render_findings(plan, sources, paint));
    out
}

/// Everything except the findings: summary, actions, units, drift, unchanged and
/// what cannot be planned. The Markdown rendering folds this part.
pub fn render_actions(plan: &Plan, paint: Paint) -> String {
    let mut out = String::new();
    let headline = format!("Plan: {}", summary_line(plan));
    out.push_str(&paint.bold(&headline));
    out.push_str("\n\n");
    if let Some(note) = targeting_note(plan) {
        out.push_str(&paint.yellow(&note));
        out.push_str("\n\n");
    }

    if plan.actions.is_empty() {
        out.push_str("No changes. Every declared reprotect is in place or cannot be planned.\n\n");
    } else {
        out.push_str("failback will perform the following actions, in this order:\n\n");
        for action in &plan.actions {
            push_action(&mut out, action, paint);
        }
    }

    if !plan.units.is_empty() {
        out.push_str("Recovery plans, each reprotected as one unit:\n");
        let members_with_actions: std::collections::BTreeSet<(&Address, &str)> = plan
            .actions
            .iter()
            .filter_map(|a| a.unit.as_deref().map(|unit| (&a.address, unit)))
            .collect();
        for unit in &plan.units {
            let planned = unit
                .members
                .iter()
                .filter(|member| members_with_actions.contains(&(*member, unit.id.as_str())))
                .count();
            out.push_str(&format!(
                "  {} ({:?}): {} of {} members to reprotect, {} unchanged\n",
                unit.address,
                unit.plan_name,
                planned,
                unit.members.len(),
                unit.unchanged_members.len()
            ));
            let members: Vec<String> = unit.members.iter().map(ToString::to_string).collect();
            out.push_str(&format!("      members: {}\n", members.join(", ")));
        }
        out.push('\n');
    }

    if !plan.drift.is_empty() {
        out.push_str(&paint.bold("Objects have changed outside of failback:"));
        out.push_str("\n\n");
        for drift in &plan.drift {
            out.push_str(&format!(
                "  # {} ({})\n  {} {} {{\n",
                drift.address,
                drift.protected_item,
                paint.yellow("~"),
                drift.address
            ));
            write_attribute_lines(
                &mut out,
                &drift.before,
                &drift.after,
                false,
                "      ",
                paint,
            );
            out.push_str(&format!("    }}\n  {}\n\n", paint.dim(&drift.reason)));
        }
    }

    if !plan.not_planned.is_empty() {
        out.push_str(&paint.bold("Cannot be planned (blocks apply):"));
        out.push('\n');
        for not_planned in &plan.not_planned {
            out.push_str(&format!(
                "  {} {}: {}\n",
                paint.red("!"),
                not_planned.address,
                not_planned.reason
            ));
        }
        out.push('\n');
    }

    if !plan.unchanged.is_empty() {
        if plan.unchanged.len() <= LIST_UNCHANGED_UP_TO {
            let names: Vec<String> = plan.unchanged.iter().map(ToString::to_string).collect();
            out.push_str(&format!("Unchanged: {}\n\n", names.join(", ")));
        } else {
            out.push_str(&format!(
                "Unchanged: {} reprotects already in place as declared\n\n",
                plan.unchanged.len()
            ));
        }
    }
    out
}

fn push_action(out: &mut String, action: &PlannedAction, paint: Paint) {
    // Written straight into `out` (writing into a String cannot fail): a plan of
    // thousands of actions would otherwise format every line twice.
    let _ = write!(out, "  # {} {}", action.address, verb(action));
    if let Some(unit) = &action.unit {
        let _ = write!(out, " (unit {unit})");
    }
    if action.destructive {
        let _ = write!(out, " {}", paint.red("(destructive)"));
    }
    out.push('\n');
    if paint.enabled() {
        let _ = writeln!(out, "  {}", paint.dim(&format!("# {}", action.reason)));
    } else {
        let _ = writeln!(out, "  # {}", action.reason);
    }
    let _ = writeln!(
        out,
        "  {} {} {:?} {{",
        marker(action, paint),
        action.kind,
        action.target_name()
    );
    let all_added = action.change == ChangeKind::Create;
    write_attribute_lines(
        out,
        &action.before,
        &action.after,
        all_added,
        "      ",
        paint,
    );
    if !action.depends_on.is_empty() {
        if paint.enabled() {
            let _ = writeln!(
                out,
                "      {}",
                paint.dim(&format!("# after {}", action.depends_on.join(", ")))
            );
        } else {
            out.push_str("      # after ");
            for (i, id) in action.depends_on.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(id);
            }
            out.push('\n');
        }
    }
    out.push_str("    }\n\n");
}

/// The findings, most severe first, each with its snippet when the source is known.
pub fn render_findings(plan: &Plan, sources: &Sources, paint: Paint) -> String {
    if plan.findings.is_empty() {
        return String::new();
    }
    let mut out = String::new();
    out.push_str(&paint.bold("Findings:"));
    out.push_str("\n\n");
    let mut findings: Vec<_> = plan.findings.iter().collect();
    // Blocking first, then by severity; the plan's own order (address, rule) within.
    findings.sort_by_key(|finding| {
        (
            finding.acknowledged.is_some(),
            std::cmp::Reverse(finding.severity),
        )
    });
    for finding in findings {
        out.push_str(&render_finding(finding, sources, paint.enabled()));
        out.push('\n');
    }
    out
}

/// `Targeting is in effect: ...`, when the plan was narrowed with `--target`.
pub fn targeting_note(plan: &Plan) -> Option<String> {
    if plan.targets.is_empty() {
        return None;
    }
    Some(format!(
        "Targeting is in effect (--target {}): only the reprotects they select and what \
         those need were planned; other reprotects and findings about them are left out.",
        plan.targets.join(", --target ")
    ))
}
