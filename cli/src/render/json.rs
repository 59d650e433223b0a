//! The JSON rendering (`--json`), shaped after Terraform's `show -json` so that policy
//! tools (OPA/conftest) and scripts can read it: `format_version`,
//! `resource_changes[]` with `change.actions`, `before`, `after` and `action_reason`,
//! `resource_drift[]`, plus failback's `findings[]` and `units[]`.
//!
//! The shape is documented in `docs/plan-json.md` and pinned by
//! `docs/plan-json.schema.json`; a minor version bump only adds fields.

use std::borrow::Cow;

use failback_engine::config::Address;
use failback_engine::plan::{Plan, PlanSummary, PlannedAction, kinds};
use failback_engine::provider::ProviderAction;
use failback_engine::rules::{Severity, Status};
use serde::Serialize;
use serde_json::Value;

use super::summary_line;

/// The version of this JSON representation (not of the saved-plan file).
pub const JSON_FORMAT_VERSION: &str = "1.1";

#[derive(Debug, Serialize)]
pub struct JsonPlan<'a> {
    pub format_version: &'static str,
    pub failback_version: &'a str,
    pub timestamp: String,
    /// Whether applying the plan would change anything.
    pub applyable: bool,
    /// Whether anything blocks apply (an unacknowledged error, a reprotect that cannot
    /// be planned).
    pub errored: bool,
    pub summary: JsonSummary,
    pub config_digest: &'a str,
    pub observed_digest: &'a str,
    pub prior_state: JsonPriorState<'a>,
    /// The `--target` addresses the plan was narrowed to; empty for the whole
    /// configuration (since 1.1).
    pub targets: &'a [String],
    pub resource_changes: Vec<JsonResourceChange<'a>>,
    pub resource_drift: Vec<JsonResourceChange<'a>>,
    pub unchanged: &'a [Address],
    pub not_planned: Vec<JsonNotPlanned<'a>>,
    pub units: Vec<JsonUnit<'a>>,
    pub findings: Vec<JsonFinding<'a>>,
}

#[derive(Debug, Serialize)]
pub struct JsonSummary {
    pub line: String,
    #[serde(flatten)]
    pub counts: PlanSummary,
}

#[derive(Debug, Serialize)]
pub struct JsonPriorState<'a> {
    pub lineage: Option<&'a str>,
    pub serial: u64,
}

#[derive(Debug, Serialize)]
pub struct JsonResourceChange<'a> {
    /// The action id (`reprotect.web01/asr.protected_item.reprotect`); for drift, the
    /// address.
    pub id: Cow<'a, str>,
    pub address: &'a Address,
    /// The action type (`asr.protected_item.reprotect`) or, for drift, `reprotect`.
    #[serde(rename = "type")]
    pub kind: &'a str,
    /// The VM or protected item acted on.
    pub name: &'a str,
    /// The address of the `vcenter`/`vault` block whose provider runs it.
    pub provider: Option<&'a str>,
    pub change: JsonChange<'a>,
    /// A stable, machine-readable reason code.
    pub action_reason: &'static str,
    /// The rule that asked for the action, when one did.
    pub rule: Option<&'a str>,
    /// The reason in a sentence.
    pub reason: &'a str,
    pub destructive: bool,
    pub depends_on: &'a [String],
    pub unit: Option<&'a str>,
    /// The provider action itself, as `apply` runs it; `null` for drift.
    pub action: Option<&'a ProviderAction>,
}

#[derive(Debug, Serialize)]
pub struct JsonChange<'a> {
    pub actions: Vec<&'static str>,
    pub before: &'a Value,
    pub after: &'a Value,
}

#[derive(Debug, Serialize)]
pub struct JsonNotPlanned<'a> {
    pub address: &'a Address,
    pub reason: &'a str,
}

#[derive(Debug, Serialize)]
pub struct JsonUnit<'a> {
    pub address: &'a Address,
    pub name: &'a str,
    pub members: &'a [Address],
    pub actions: &'a [String],
    pub unchanged_members: &'a [Address],
}

#[derive(Debug, Serialize)]
pub struct JsonFinding<'a> {
    pub rule: &'a str,
    pub severity: &'static str,
    /// `violated` or `could_not_check`.
    pub status: &'static str,
    /// Why the rule could not be checked.
    pub status_reason: Option<&'a str>,
    pub address: &'a Address,
    pub location: JsonLocation,
    pub message: &'a str,
    pub observed: Option<&'a str>,
    pub remediation: &'a str,
    pub acknowledged: bool,
    pub acknowledgement_reason: Option<&'a str>,
    /// Whether the finding blocks apply.
    pub blocking: bool,
}

#[derive(Debug, Serialize)]
pub struct JsonLocation {
    pub file: String,
    pub line: usize,
    pub column: usize,
}

fn action_reason(action: &PlannedAction) -> &'static str {
    match action.kind.as_str() {
        kinds::REPROTECT => "reverse_replication_missing",
        kinds::WAIT_FOR_AGENT => "agent_not_registered",
        _ => "rule_fix",
    }
}

/// Builds the JSON view of a plan.
pub fn view(plan: &Plan) -> JsonPlan<'_> {
    let summary = plan.summary();
    let resource_changes = plan
        .actions
        .iter()
        .map(|action| JsonResourceChange {
            id: Cow::Borrowed(&action.id),
            address: &action.address,
            kind: &action.kind,
            name: action.target_name(),
            provider: Some(&action.provider),
            change: JsonChange {
                actions: vec![action.change.terraform_action()],
                before: &action.before,
                after: &action.after,
            },
            action_reason: action_reason(action),
            rule: action.rule.as_deref(),
            reason: &action.reason,
            destructive: action.destructive,
            depends_on: &action.depends_on,
            unit: action.unit.as_deref(),
            action: Some(&action.action),
        })
        .collect();
    let resource_drift = plan
        .drift
        .iter()
        .map(|drift| JsonResourceChange {
            id: Cow::Owned(drift.address.to_string()),
            address: &drift.address,
            kind: "reprotect",
            name: &drift.protected_item,
            provider: None,
            change: JsonChange {
                actions: vec!["update"],
                before: &drift.before,
                after: &drift.after,
            },
            action_reason: "changed_outside_failback",
            rule: None,
            reason: &drift.reason,
            destructive: false,
            depends_on: &[],
            unit: None,
            action: None,
        })
        .collect();
    let findings = plan
        .findings
        .iter()
        .map(|finding| {
            let (status, status_reason) = match &finding.status {
                Status::Violated => ("violated", None),
                Status::CouldNotCheck { reason } => ("could_not_check", Some(reason.as_str())),
            };
            JsonFinding {
                rule: &finding.rule,
                severity: match finding.severity {
                    Severity::Error => "error",
                    Severity::Warning => "warning",
                    Severity::Advice => "advice",
                },
                status,
                status_reason,
                address: &finding.address,
                location: JsonLocation {
                    file: finding.span.file.to_string_lossy().into_owned(),
                    line: finding.span.line,
                    column: finding.span.column,
                },
                message: &finding.message,
                observed: finding.observed.as_deref(),
                remediation: &finding.remediation,
                acknowledged: finding.acknowledged.is_some(),
                acknowledgement_reason: finding.acknowledged.as_deref(),
                blocking: finding.severity == Severity::Error && finding.acknowledged.is_none(),
            }
        })
        .collect();
    JsonPlan {
        format_version: JSON_FORMAT_VERSION,
        failback_version: &plan.tool_version,
        timestamp: plan
            .created_at
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        applyable: plan.has_changes() && !summary.is_blocked(),
        errored: summary.is_blocked(),
        summary: JsonSummary {
            line: summary_line(plan),
            counts: summary,
        },
        config_digest: &plan.config_digest,
        observed_digest: &plan.observed_digest,
        prior_state: JsonPriorState {
            lineage: plan.state_lineage.as_deref(),
            serial: plan.state_serial,
        },
        targets: &plan.targets,
        resource_changes,
        resource_drift,
        unchanged: &plan.unchanged,
        not_planned: plan
            .not_planned
            .iter()
            .map(|n| JsonNotPlanned {
                address: &n.address,
                reason: &n.reason,
            })
            .collect(),
        units: plan
            .units
            .iter()
            .map(|unit| JsonUnit {
                address: &unit.address,
                name: &unit.plan_name,
                members: &unit.members,
                actions: &unit.actions,
                unchanged_members: &unit.unchanged_members,
            })
            .collect(),
        findings,
    }
}

/// The JSON rendering, pretty-printed, with a final newline.
pub fn render(plan: &Plan) -> String {
    // The view holds only strings, numbers, booleans and JSON values: it serialises.
    let mut text = serde_json::to_string_pretty(&view(plan)).unwrap_or_else(|_| "{}".to_owned());
    text.push('\n');
    text
}
