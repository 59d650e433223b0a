//! The plan as plain serde data: what `failback plan` decided, what `plan -out` writes,
//! what `show` renders and what `apply FILE` replays.
//!
//! Nothing here does I/O or decides anything; [`super::make_plan`] fills these types.
//! Everything a plan holds is safe to write to disk and post in a pull request: the
//! desired configuration is recorded through its `Serialize` impl, which prints
//! [`crate::config::Sensitive`] values as `(sensitive value)`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::config::{Address, Config};
use crate::observe::Observed;
use crate::provider::ProviderAction;
use crate::rules::{Finding, Severity};

/// The version of the saved-plan format. A reader accepts any `1.x` and refuses other
/// majors: minor bumps only add fields.
pub const PLAN_FORMAT_VERSION: &str = "1.0";

/// One plan: ordered actions, findings, drift, and the identity of what it was made
/// from (configuration, observed state, prior state).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub format_version: String,
    /// The failback version that made the plan.
    pub tool_version: String,
    pub created_at: DateTime<Utc>,
    /// SHA-256 of the sorted `*.hcl` files and the variable inputs
    /// (see [`super::config_digest`]).
    pub config_digest: String,
    /// [`Observed::digest`] of the snapshot the plan was made from.
    pub observed_digest: String,
    /// The lineage of the state the plan was made against; `None` before the first
    /// apply.
    pub state_lineage: Option<String>,
    pub state_serial: u64,
    /// Actions in execution order: every action comes after all it depends on.
    pub actions: Vec<PlannedAction>,
    /// Recovery plans whose members are reprotected together.
    pub units: Vec<ReprotectUnit>,
    /// Every rule finding, blocking or not, sorted by address then rule.
    pub findings: Vec<Finding>,
    /// Reprotects already done, but with other values than declared.
    pub drift: Vec<ResourceDrift>,
    /// Reprotects already done exactly as declared.
    pub unchanged: Vec<Address>,
    /// Reprotects the plan cannot carry out, with why; they block apply.
    pub not_planned: Vec<NotPlanned>,
    /// The resolved configuration, secrets redacted.
    pub desired: DesiredRecord,
    /// The observed snapshot, so that `show` and `apply FILE` can replay the plan.
    pub observed: Observed,
    /// The `--target` addresses the plan was narrowed to (see [`super::target`]);
    /// empty when it covers the whole configuration.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<String>,
}

/// The resolved configuration as JSON text, secrets redacted: the record of what was
/// declared, for whoever audits a saved plan. failback itself never reads it back (a
/// saved plan is checked against the files by the configuration digest), so it is
/// kept as the text it is written as: serialising a configuration of thousands of
/// reprotects straight to text is a quarter of the cost of building a JSON tree.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DesiredRecord(Box<RawValue>);

impl DesiredRecord {
    /// Records `config`. Its `Serialize` redacts every `Sensitive` and it has no map
    /// with non-string keys, so serialising cannot fail in practice; if it did, the
    /// record would be `null` rather than the plan lost.
    pub fn of(config: &Config) -> Self {
        serde_json::to_string(config)
            .ok()
            .and_then(|text| RawValue::from_string(text).ok())
            .map_or_else(DesiredRecord::none, DesiredRecord)
    }

    /// No record: JSON `null`.
    pub fn none() -> Self {
        DesiredRecord(RawValue::NULL.to_owned())
    }

    /// The record as JSON text.
    pub fn json(&self) -> &str {
        self.0.get()
    }
}

impl PartialEq for DesiredRecord {
    fn eq(&self, other: &Self) -> bool {
        self.json() == other.json()
    }
}

/// What kind of change an action makes, which decides its marker and its JSON
/// `change.actions` (the Terraform vocabulary policy tools already know).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// Reverse replication is created: `+`, `create`.
    Create,
    /// A setting is changed in place: `~`, `update`.
    Update,
    /// Something is removed for good: `-`, `delete`. Destructive.
    Delete,
    /// Nothing is changed; the step waits for the world: `<=`, `read`.
    Read,
}

impl ChangeKind {
    /// The Terraform JSON `change.actions` value.
    pub fn terraform_action(self) -> &'static str {
        match self {
            ChangeKind::Create => "create",
            ChangeKind::Update => "update",
            ChangeKind::Delete => "delete",
            ChangeKind::Read => "read",
        }
    }
}

/// The dotted action type names, as in the plan, the state and the docs.
pub mod kinds {
    pub const SET_EXTRA_CONFIG: &str = "vcenter.vm.set_extra_config";
    pub const REMOVE_SNAPSHOTS: &str = "vcenter.vm.remove_snapshots";
    pub const REPROTECT: &str = "asr.protected_item.reprotect";
    pub const WAIT_FOR_AGENT: &str = "asr.wait_for_agent";
}

/// The address text an action id starts with. Ids are `ADDRESS/KIND`, with `#N` after
/// a repeat; kinds hold no `/`, while an address's `for_each` key may.
pub fn address_of_action_id(id: &str) -> &str {
    id.rsplit_once('/').map_or(id, |(address, _)| address)
}

/// One step of a plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedAction {
    /// Stable within a plan and readable: `reprotect.web01/asr.protected_item.reprotect`.
    pub id: String,
    /// The configuration object the action is for.
    pub address: Address,
    /// The dotted action type, one of [`kinds`].
    pub kind: String,
    pub change: ChangeKind,
    /// The address of the `vcenter` or `vault` block whose provider runs it.
    pub provider: String,
    pub action: ProviderAction,
    /// Ids of the actions that must finish first.
    pub depends_on: Vec<String>,
    /// The id of the reprotect unit (recovery plan) the action belongs to.
    pub unit: Option<String>,
    /// Removes something that cannot be brought back (snapshots).
    pub destructive: bool,
    /// The rule that asked for the action (`FB107`, `FB117`), when one did.
    pub rule: Option<String>,
    /// Why the action is needed, in one sentence (with the rule id when a rule asked
    /// for it).
    pub reason: String,
    /// The values before and after, as flat JSON objects for rendering and policy.
    pub before: serde_json::Value,
    pub after: serde_json::Value,
}

impl PlannedAction {
    /// The name of the thing acted on: the VM or the protected item.
    pub fn target_name(&self) -> &str {
        match &self.action {
            ProviderAction::VmSetExtraConfig { vm, .. } => vm,
            ProviderAction::VmRemoveSnapshots { vm } => vm,
            ProviderAction::Reprotect(request) => arm_name(&request.protected_item_id),
            ProviderAction::WaitForAgent {
                protected_item_id, ..
            } => arm_name(protected_item_id),
        }
    }
}

/// The last segment of an ARM id (the resource name).
pub fn arm_name(id: &str) -> &str {
    id.rsplit('/').next().unwrap_or(id)
}

/// A recovery plan's members, reprotected as one unit: their reprotects start
/// together (each waits for every member's prerequisites) and the unit is reported as
/// reprotected, partially reprotected or failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReprotectUnit {
    /// Same as the address text: `recovery_plan.erp`.
    pub id: String,
    pub address: Address,
    /// The recovery plan's name in the vault.
    pub plan_name: String,
    /// Every member reprotect, in declaration order.
    pub members: Vec<Address>,
    /// The ids of the members' actions (reprotects, their waits and VM fixes).
    pub actions: Vec<String>,
    /// Members already reprotected as declared.
    pub unchanged_members: Vec<Address>,
}

/// A reprotect that is done, but not as declared. failback cannot change the master
/// target, retention volume or datastore of a protected item in place; the operator
/// decides (disable and re-reprotect, or change the configuration).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceDrift {
    pub address: Address,
    /// The protected item's name in the vault.
    pub protected_item: String,
    /// The names of the differing attributes.
    pub attributes: Vec<String>,
    /// Observed values of the differing attributes.
    pub before: serde_json::Value,
    /// Declared values of the differing attributes.
    pub after: serde_json::Value,
    pub reason: String,
}

/// A declared reprotect for which no action could be planned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotPlanned {
    pub address: Address,
    pub reason: String,
}

/// Counts for summary lines, the same in every rendering.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PlanSummary {
    pub to_reprotect: usize,
    pub to_fix: usize,
    /// Of `to_fix`, how many remove something.
    pub destructive: usize,
    pub agent_waits: usize,
    pub unchanged: usize,
    pub drifted: usize,
    pub not_planned: usize,
    /// Unacknowledged error findings.
    pub errors: usize,
    pub warnings: usize,
    pub advice: usize,
    pub acknowledged: usize,
    /// Findings that could not be checked.
    pub could_not_check: usize,
}

impl PlanSummary {
    /// Whether anything blocks apply: an unacknowledged error finding or a reprotect
    /// that could not be planned.
    pub fn is_blocked(&self) -> bool {
        self.errors > 0 || self.not_planned > 0
    }
}

impl Plan {
    pub fn summary(&self) -> PlanSummary {
        let mut summary = PlanSummary {
            unchanged: self.unchanged.len(),
            drifted: self.drift.len(),
            not_planned: self.not_planned.len(),
            ..PlanSummary::default()
        };
        for action in &self.actions {
            match action.kind.as_str() {
                kinds::REPROTECT => summary.to_reprotect += 1,
                kinds::WAIT_FOR_AGENT => summary.agent_waits += 1,
                _ => summary.to_fix += 1,
            }
            if action.destructive {
                summary.destructive += 1;
            }
        }
        for finding in &self.findings {
            if matches!(finding.status, crate::rules::Status::CouldNotCheck { .. }) {
                summary.could_not_check += 1;
            }
            if finding.acknowledged.is_some() {
                summary.acknowledged += 1;
                continue;
            }
            match finding.severity {
                Severity::Error => summary.errors += 1,
                Severity::Warning => summary.warnings += 1,
                Severity::Advice => summary.advice += 1,
            }
        }
        summary
    }

    /// Whether applying the plan would change anything.
    pub fn has_changes(&self) -> bool {
        self.actions
            .iter()
            .any(|action| action.change != ChangeKind::Read)
    }

    /// Whether the plan has anything to show for `--detailed-exitcode`: changes or
    /// drift.
    pub fn has_changes_or_drift(&self) -> bool {
        self.has_changes() || !self.drift.is_empty()
    }

    pub fn action(&self, id: &str) -> Option<&PlannedAction> {
        self.actions.iter().find(|action| action.id == id)
    }

    /// Whether this version of failback can read a plan of `format_version`.
    pub fn is_readable_format(format_version: &str) -> bool {
        let major = |v: &str| v.split('.').next().map(str::to_owned);
        major(format_version) == major(PLAN_FORMAT_VERSION)
    }
}
