//! The Markdown rendering (`--markdown`): a pull-request comment as Atlantis and tfcmt
//! write them. The one-line result, a warning block for destructive actions and for
//! what blocks apply, a table of actions, drift, findings with their rule ids, the full
//! human plan folded in `<details>`, and the exact apply command.
//!
//! GitHub refuses comments over 65,536 characters; every section is given a share of
//! what is left and folds its tail ("… and 120 more"), so the comment always fits and
//! always ends with the apply command.

use failback_engine::plan::{ChangeKind, Plan};
use failback_engine::rules::Severity;

use super::findings::severity_word;
use super::{Paint, Sources, human, summary_line};

/// GitHub's limit on a comment body, in characters.
pub const GITHUB_COMMENT_LIMIT: usize = 65_536;
/// Kept free below the limit for what CI tools add around the body.
const SAFETY_MARGIN: usize = 1_024;
/// How many destructive actions the warning block names before folding.
const DESTRUCTIVE_LISTED: usize = 10;

/// How the comment tells the reader to apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApplyHint {
    /// The plan was saved: the exact command that applies it.
    Command(String),
    /// The plan was not saved: how to save one for apply.
    SaveFirst { plan_command: String },
}

/// Renders the comment; its length in bytes (hence characters) stays under
/// [`GITHUB_COMMENT_LIMIT`].
pub fn render(plan: &Plan, sources: &Sources, apply: &ApplyHint) -> String {
    render_with_limit(plan, sources, apply, GITHUB_COMMENT_LIMIT - SAFETY_MARGIN)
}

/// As [`render`], under any limit (tests use small ones).
pub fn render_with_limit(
    plan: &Plan,
    sources: &Sources,
    apply: &ApplyHint,
    limit: usize,
) -> String {
    let head = head(plan);
    let footer = footer(plan, apply);
    let mut out = head;
    let remaining = |out: &String| limit.saturating_sub(out.len() + footer.len());

    let share = remaining(&out) * 2 / 5;
    out.push_str(&actions_table(plan, share));
    let share = remaining(&out) / 4;
    out.push_str(&drift_section(plan, share));
    let share = remaining(&out) / 4;
    out.push_str(&not_planned_section(plan, share));
    let share = remaining(&out) / 2;
    out.push_str(&findings_table(plan, share));
    let share = remaining(&out);
    out.push_str(&details(plan, sources, share));
    out.push_str(&footer);
    out
}

fn head(plan: &Plan) -> String {
    let summary = plan.summary();
    let mut out = String::new();
    let icon = if summary.is_blocked() {
        ":x:"
    } else if plan.has_changes_or_drift() {
        ":memo:"
    } else {
        ":white_check_mark:"
    };
    out.push_str(&format!(
        "## {icon} failback plan: {}\n\n",
        summary_line(plan)
    ));
    out.push_str(&format!(
        "<sub>failback {} · made {} · observed `{}` · state serial {}</sub>\n\n",
        plan.tool_version,
        plan.created_at
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        short_digest(&plan.observed_digest),
        plan.state_serial
    ));
    if let Some(note) = super::human::targeting_note(plan) {
        out.push_str(&format!("> [!WARNING]\n> {note}\n\n"));
    }
    if summary.is_blocked() {
        out.push_str("> [!CAUTION]\n> **Apply is blocked**: ");
        let mut reasons = Vec::new();
        if summary.errors > 0 {
            reasons.push(format!(
                "{} unacknowledged error finding{}",
                summary.errors,
                if summary.errors == 1 { "" } else { "s" }
            ));
        }
        if summary.not_planned > 0 {
            reasons.push(format!(
                "{} reprotect{} cannot be planned",
                summary.not_planned,
                if summary.not_planned == 1 { "" } else { "s" }
            ));
        }
        out.push_str(&reasons.join(", "));
        out.push_str(
            ". Fix the causes below (or acknowledge a rule on its object with \
             `acknowledge \"FBnnn\" { reason = \"...\" }`) and plan again.\n\n",
        );
    }
    let destructive: Vec<_> = plan.actions.iter().filter(|a| a.destructive).collect();
    if !destructive.is_empty() {
        out.push_str(&format!(
            "> [!WARNING]\n> **{} destructive action{}**: data is removed that cannot be brought back.\n",
            destructive.len(),
            if destructive.len() == 1 { "" } else { "s" }
        ));
        for action in destructive.iter().take(DESTRUCTIVE_LISTED) {
            out.push_str(&format!(
                "> - `{}`: `{}` on `{}`\n",
                code(&action.address.to_string()),
                action.kind,
                code(action.target_name())
            ));
        }
        if destructive.len() > DESTRUCTIVE_LISTED {
            out.push_str(&format!(
                "> - … and {} more (see the table)\n",
                destructive.len() - DESTRUCTIVE_LISTED
            ));
        }
        out.push('\n');
    }
    out
}

fn footer(plan: &Plan, apply: &ApplyHint) -> String {
    let mut out = String::new();
    if plan.summary().is_blocked() {
        out.push_str(":no_entry: This plan cannot be applied until what blocks it is resolved.\n");
        return out;
    }
    if !plan.has_changes() {
        out.push_str(":white_check_mark: Nothing to apply.\n");
        return out;
    }
    match apply {
        ApplyHint::Command(command) => out.push_str(&format!(
            ":arrow_forward: To **apply** exactly this plan, run:\n\n```sh\n{command}\n```\n"
        )),
        ApplyHint::SaveFirst { plan_command } => out.push_str(&format!(
            ":arrow_forward: To **apply** what was reviewed, save the plan and apply that file:\n\n```sh\n{plan_command}\n```\n"
        )),
    }
    out
}

fn short_digest(digest: &str) -> &str {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    &hex[..hex.len().min(12)]
}

/// Text inside a code span: backticks cannot be escaped there.
fn code(text: &str) -> String {
    text.replace('`', "'")
}

/// Text inside a table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// Adds rows while they fit in `max`, then a note of how many were left out. Rows
/// are made only as they are needed: a plan of thousands of actions shows a few
/// hundred.
fn table(
    header: &str,
    rows: impl ExactSizeIterator<Item = String>,
    what: &str,
    max: usize,
) -> String {
    let mut out = header.to_owned();
    let total = rows.len();
    let note_room = 120;
    for (shown, row) in rows.enumerate() {
        if out.len() + row.len() + note_room > max {
            out.push_str(&format!(
                "\n_… and {} more {what}, in the full plan below._\n",
                total - shown
            ));
            return out + "\n";
        }
        out.push_str(&row);
    }
    out + "\n"
}

fn actions_table(plan: &Plan, max: usize) -> String {
    if plan.actions.is_empty() {
        return String::new();
    }
    let rows = plan.actions.iter().enumerate().map(|(i, action)| {
        let marker = match action.change {
            ChangeKind::Create => "`+`",
            ChangeKind::Update => "`~`",
            ChangeKind::Delete => "`-` :warning:",
            ChangeKind::Read => "`<=`",
        };
        format!(
            "| {} | {marker} | `{}` | `{}` | `{}` | {} |\n",
            i + 1,
            code(&action.address.to_string()),
            action.kind,
            code(action.target_name()),
            cell(&action.reason)
        )
    });
    table(
        "### Actions\n\n| # | | address | action | on | why |\n|---:|---|---|---|---|---|\n",
        rows,
        "actions",
        max,
    )
}

fn drift_section(plan: &Plan, max: usize) -> String {
    if plan.drift.is_empty() {
        return String::new();
    }
    let mut rows = Vec::new();
    for drift in &plan.drift {
        for attribute in &drift.attributes {
            let before = drift
                .before
                .get(attribute)
                .map(super::values::inline)
                .unwrap_or_default();
            let after = drift
                .after
                .get(attribute)
                .map(super::values::inline)
                .unwrap_or_default();
            rows.push(format!(
                "| `{}` | {} | `{}` | `{}` |\n",
                code(&drift.address.to_string()),
                attribute,
                code(&before),
                code(&after)
            ));
        }
    }
    table(
        "### :information_source: Changed outside of failback\n\nAlready reprotected, but not as declared. failback cannot change these in place.\n\n| address | attribute | observed | declared |\n|---|---|---|---|\n",
        rows.into_iter(),
        "drifted values",
        max,
    )
}

fn not_planned_section(plan: &Plan, max: usize) -> String {
    if plan.not_planned.is_empty() {
        return String::new();
    }
    let rows = plan.not_planned.iter().map(|n| {
        format!(
            "| `{}` | {} |\n",
            code(&n.address.to_string()),
            cell(&n.reason)
        )
    });
    table(
        "### :x: Cannot be planned\n\n| address | why |\n|---|---|\n",
        rows,
        "reprotects",
        max,
    )
}

fn findings_table(plan: &Plan, max: usize) -> String {
    if plan.findings.is_empty() {
        return String::new();
    }
    let mut findings: Vec<_> = plan.findings.iter().collect();
    findings.sort_by_key(|f| (f.acknowledged.is_some(), std::cmp::Reverse(f.severity)));
    let rows = findings.into_iter().map(|finding| {
        let icon = match (finding.acknowledged.is_some(), finding.severity) {
            (true, _) => ":ballot_box_with_check:",
            (false, Severity::Error) => ":x:",
            (false, Severity::Warning) => ":warning:",
            (false, Severity::Advice) => ":information_source:",
        };
        let mut message = finding.message.clone();
        // As in the text rendering: a message that already says why it could not
        // be checked is not told twice.
        if let failback_engine::rules::Status::CouldNotCheck { reason } = &finding.status
            && !finding.message.contains(reason.as_str())
        {
            message = format!("could not check: {reason} ({message})");
        }
        if let Some(reason) = &finding.acknowledged {
            message.push_str(&format!(" — acknowledged: {reason}"));
        }
        format!(
            "| {icon} {} | **{}** | `{}` | {} | {} |\n",
            severity_word(finding),
            finding.rule,
            code(&finding.address.to_string()),
            cell(&message),
            cell(&finding.remediation)
        )
    });
    table(
        "### Findings\n\n| severity | rule | object | finding | what to do |\n|---|---|---|---|---|\n",
        rows,
        "findings",
        max,
    )
}

/// The full human plan in a fenced `diff` block (markers moved to the first column so
/// GitHub colours them), folded; cut at `max` with a note when too long.
fn details(plan: &Plan, sources: &Sources, max: usize) -> String {
    let open = "<details><summary>Show the full plan</summary>\n\n```diff\n";
    let close = "```\n\n</details>\n\n";
    let text = human::render(plan, sources, Paint::new(false));
    let mut body = String::new();
    let note_room = 160;
    // Lines are converted only until the comment is full; the rest is only counted.
    for (shown, line) in text.lines().map(diff_marker_first).enumerate() {
        if open.len() + body.len() + line.len() + 1 + close.len() + note_room > max {
            body.push_str(&format!(
                "… {} more lines not shown: run `failback show` on the saved plan for all of it\n",
                text.lines().count() - shown
            ));
            break;
        }
        body.push_str(&line);
        body.push('\n');
    }
    if open.len() + body.len() + close.len() > max {
        return String::new();
    }
    format!("{open}{}{close}", body.replace("```", "'''"))
}

/// `      + key = 1` → `+      key = 1`; `~` becomes `!` as in Atlantis' diff format.
fn diff_marker_first(line: &str) -> String {
    let trimmed = line.trim_start();
    let indent = line.len() - trimmed.len();
    for (marker, shown) in [("+ ", "+"), ("- ", "-"), ("~ ", "!"), ("<= ", " ")] {
        if let Some(rest) = trimmed.strip_prefix(marker) {
            return format!(
                "{shown}{}{}{rest}",
                " ".repeat(indent),
                " ".repeat(marker.len() - 1)
            );
        }
    }
    line.to_owned()
}
