//! What counts as drift, and how each change is told: the object it happened to, how
//! failback left it (before), what discovery sees now (after) and what to do.
//!
//! Drift is only about what failback applied. Two sources feed it: the plan made from a
//! fresh discovery (a reprotect or a VM fix needed again, a reprotect in place with
//! other values, a violated rule), and a look at what the applied reprotects replicate
//! through, which no rule checks once the reprotect is done (the item's replication
//! health, the master target's and configuration server's heartbeats and health).

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use failback_engine::config::{Address, Config};
use failback_engine::observe::vault::HealthError;
use failback_engine::plan::{Plan, PlannedAction, ResourceDrift, kinds};
use failback_engine::provider::ProviderAction;
use failback_engine::resolve::{self, Resolution, ResolvedReprotect};
use failback_engine::rules::catalogue::FB129;
use failback_engine::rules::wording::counted;
use failback_engine::rules::{
    Finding, HEARTBEAT_TIMEOUT_MINUTES, ReprotectReadiness, Severity, Status, catalogue,
    reprotect_readiness,
};
use failback_engine::state::{Outcome, State};
use serde::Serialize;

use crate::events::state_key;

/// The categories of drift (`kind` in the JSON report), by where it was found.
pub mod drift_kinds {
    /// An applied reprotect is needed again, or cannot be planned any more.
    pub const NO_LONGER_PROTECTED: &str = "no_longer_protected";
    /// An applied reprotect is in place with other values than declared.
    pub const VALUES_CHANGED: &str = "values_changed";
    /// A VM fix is needed again after an apply.
    pub const FIX_UNDONE: &str = "fix_undone";
    /// A rule (error or warning, not acknowledged) is violated after an apply.
    pub const RULE_VIOLATED: &str = "rule_violated";
    /// Something an applied reprotect replicates through is unhealthy.
    pub const DEGRADED: &str = "degraded";
}

/// What changed, in the words of an operator (`change` in the JSON report).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    NoLongerProtected,
    MasterTargetChanged,
    ReprotectValuesChanged,
    SnapshotReturned,
    DiskEnableUuidReset,
    /// An advanced configuration parameter other than disk.EnableUUID.
    ParameterReset,
    HealthCritical,
    HeartbeatStopped,
    /// Any other rule.
    RuleViolated,
}

impl Change {
    /// A short title for the human and Markdown reports.
    pub fn title(self) -> &'static str {
        match self {
            Change::NoLongerProtected => "no longer protected",
            Change::MasterTargetChanged => "different master target",
            Change::ReprotectValuesChanged => "reprotected with other values",
            Change::SnapshotReturned => "snapshot came back",
            Change::DiskEnableUuidReset => "disk.EnableUUID reset",
            Change::ParameterReset => "configuration parameter reset",
            Change::HealthCritical => "health turned critical",
            Change::HeartbeatStopped => "heartbeat stopped",
            Change::RuleViolated => "rule violated",
        }
    }
}

/// One thing that moved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DriftItem {
    /// The configuration object it concerns: `reprotect.web01`, `master_target.mt_linux`.
    pub address: String,
    /// One of [`drift_kinds`].
    pub kind: &'static str,
    pub change: Change,
    /// The rule, for violated rules and rule-driven fixes.
    pub rule: Option<String>,
    /// What it happened to, by its name outside failback: `master target VM mt-lnx-01`.
    pub object: String,
    /// How failback left it (or what held) at the last apply.
    pub before: String,
    /// What discovery sees now.
    pub after: String,
    /// What is wrong, in one sentence.
    pub message: String,
    /// What to do.
    pub remediation: String,
}

/// The drift of `plan` (made from a fresh discovery of the world `config` declares)
/// against what `state` says was applied. Nothing failback never applied is drift:
/// that is a plan's business.
pub fn compare(config: &Config, plan: &Plan, state: &State) -> Vec<DriftItem> {
    let applied = |key: &str| {
        state
            .get(key)
            .is_some_and(|resource| resource.outcome == Outcome::Applied)
    };
    // A fix or a rule that fails again on what applied reprotects go through (their
    // master target, servers, policy, recovery plan, vCenter, vault) means someone
    // undid it, or the estate moved under it. On anything else (a reprotect not yet
    // applied, a master target declared since) it is a plan's business, unless the
    // fix itself was applied. Settings of the tool (the `failback` block) concern
    // every reprotect: they count once anything was applied.
    let anything_applied = state
        .resources
        .values()
        .any(|resource| resource.outcome == Outcome::Applied);
    let in_use = config.blocks_used_by(|address| applied(&address.to_string()));
    let counts = |address: &Address, key: Option<&str>| {
        if key.is_some_and(applied) {
            return true;
        }
        match address.kind.as_str() {
            "reprotect" => applied(&address.to_string()),
            "failback" => anything_applied,
            _ => in_use.contains(address),
        }
    };
    let resolution = resolve::resolve(config, &plan.observed);
    // By address: the lookups below run once per item, and there may be thousands.
    let reprotects: HashMap<&Address, &ResolvedReprotect<'_>> = resolution
        .reprotects
        .iter()
        .map(|r| (&r.config.address, r))
        .collect();
    let mut items = Vec::new();
    for action in &plan.actions {
        let key = state_key(action);
        if action.kind == kinds::REPROTECT && applied(&key) {
            items.push(reprotect_needed_again(&reprotects, action));
        } else if action.kind != kinds::REPROTECT
            && action.kind != kinds::WAIT_FOR_AGENT
            && counts(&action.address, Some(&key))
        {
            items.push(fix_needed_again(action));
        }
    }
    for not_planned in &plan.not_planned {
        if applied(&not_planned.address.to_string()) {
            items.push(DriftItem {
                address: not_planned.address.to_string(),
                kind: drift_kinds::NO_LONGER_PROTECTED,
                change: Change::NoLongerProtected,
                rule: None,
                object: protected_item_of(&reprotects, &not_planned.address),
                before: "protected, Azure to on-premises (reprotected by failback)".to_owned(),
                after: protection_state_of(&reprotects, &not_planned.address)
                    .unwrap_or_else(|| "not found in the vault".to_owned()),
                message: format!(
                    "was reprotected by failback and is no longer protected, nor can it be \
                     reprotected now: {}",
                    not_planned.reason
                ),
                remediation: "find out what happened to it in the vault (failed over again, \
                              replication disabled, removed), then run `failback plan`"
                    .to_owned(),
            });
        }
    }
    for drift in &plan.drift {
        if applied(&drift.address.to_string()) {
            items.push(values_changed(drift));
        }
    }
    if anything_applied {
        let lost: BTreeSet<String> = items
            .iter()
            .filter(|item| item.change == Change::NoLongerProtected)
            .map(|item| item.address.clone())
            .collect();
        for finding in &plan.findings {
            let violated = finding.status == Status::Violated
                && finding.acknowledged.is_none()
                && finding.severity != Severity::Advice
                && counts(&finding.address, None);
            // That an item no longer protected is not ready for reprotect either goes
            // without saying.
            let implied = finding.rule == FB129.id && lost.contains(&finding.address.to_string());
            if violated && !implied {
                items.push(rule_violated(config, &reprotects, finding));
            }
        }
    }
    let applied_reprotects: BTreeSet<String> = state
        .resources
        .values()
        .filter(|r| r.kind == kinds::REPROTECT && r.outcome == Outcome::Applied)
        .map(|r| r.address.clone())
        .collect();
    for item in degraded(&resolution, plan.observed.observed_at, &applied_reprotects) {
        // A rule that already tells the same change about the same object wins: it
        // carries the rule id.
        let told = items
            .iter()
            .any(|told| told.address == item.address && told.change == item.change);
        if !told {
            items.push(item);
        }
    }
    items.sort_by(|a, b| {
        (&a.address, a.change, &a.rule, &a.object).cmp(&(&b.address, b.change, &b.rule, &b.object))
    });
    items.dedup();
    items
}

fn reprotect_needed_again(reprotects: &Reprotects<'_>, action: &PlannedAction) -> DriftItem {
    let observed_state = action.before["protection_state"]
        .as_str()
        .unwrap_or("not protected");
    DriftItem {
        address: action.address.to_string(),
        kind: drift_kinds::NO_LONGER_PROTECTED,
        change: Change::NoLongerProtected,
        rule: None,
        object: protected_item_of(reprotects, &action.address),
        before: "protected, Azure to on-premises (reprotected by failback)".to_owned(),
        after: observed_state.to_owned(),
        message: format!(
            "{} was reprotected by failback and is no longer protected: {}",
            action.target_name(),
            action.reason
        ),
        remediation: "find out why (failed over again? replication disabled?), then \
                      `failback plan` and `failback apply` reprotect it again"
            .to_owned(),
    }
}

fn fix_needed_again(action: &PlannedAction) -> DriftItem {
    let what = vm_label(&action.address);
    let (change, object, before, after, remediation) = match &action.action {
        ProviderAction::VmRemoveSnapshots { vm } => (
            Change::SnapshotReturned,
            format!("{what} {vm}"),
            "no snapshots".to_owned(),
            snapshots_text(&action.before["snapshots"]),
            format!(
                "run `failback apply` to remove them again (remove_snapshots = true; \
                 destructive), and find out who takes snapshots of {vm} (a backup job?)"
            ),
        ),
        ProviderAction::VmSetExtraConfig { vm, key, value } => (
            if key.eq_ignore_ascii_case("disk.EnableUUID") {
                Change::DiskEnableUuidReset
            } else {
                Change::ParameterReset
            },
            format!("{what} {vm}"),
            format!("{key} = {value}"),
            match action.before[key.as_str()].as_str() {
                Some(now) => format!("{key} = {now}"),
                None => format!("{key} not set"),
            },
            format!(
                "run `failback apply` to set {key} = {value} again, and find out what \
                 reset it on {vm} (a template redeploy, a configuration management run?)"
            ),
        ),
        ProviderAction::Reprotect(_) | ProviderAction::WaitForAgent { .. } => (
            Change::RuleViolated,
            action.target_name().to_owned(),
            compact(&action.after),
            compact(&action.before),
            "run `failback plan` to see it, then `failback apply`".to_owned(),
        ),
    };
    DriftItem {
        address: action.address.to_string(),
        kind: drift_kinds::FIX_UNDONE,
        change,
        rule: action.rule.clone(),
        object,
        before,
        after,
        message: action.reason.clone(),
        remediation,
    }
}

fn values_changed(drift: &ResourceDrift) -> DriftItem {
    let change = if drift.attributes.iter().any(|a| a == "master_target") {
        Change::MasterTargetChanged
    } else {
        Change::ReprotectValuesChanged
    };
    DriftItem {
        address: drift.address.to_string(),
        kind: drift_kinds::VALUES_CHANGED,
        change,
        rule: None,
        object: format!("protected item {}", drift.protected_item),
        // The plan's before is what is observed and its after what is declared (and
        // was applied): the other way round for drift.
        before: compact(&drift.after),
        after: compact(&drift.before),
        message: format!(
            "{} ({}) changed outside failback",
            drift.protected_item,
            drift.attributes.join(", ")
        ),
        remediation: format!(
            "failback cannot change this in place: disable replication of {} and \
             reprotect it again, or declare what is in place",
            drift.protected_item
        ),
    }
}

fn rule_violated(config: &Config, reprotects: &Reprotects<'_>, finding: &Finding) -> DriftItem {
    let observed = finding.observed.clone();
    let heartbeat = observed.as_deref().is_some_and(|o| o.contains("heartbeat"));
    let (change, before) = match finding.rule.as_str() {
        "FB102" | "FB115" => (Change::SnapshotReturned, "no snapshots".to_owned()),
        "FB107" => (
            Change::DiskEnableUuidReset,
            "disk.EnableUUID = TRUE".to_owned(),
        ),
        "FB104" | "FB110" if heartbeat => (
            Change::HeartbeatStopped,
            format!("heartbeat within {HEARTBEAT_TIMEOUT_MINUTES} minutes"),
        ),
        "FB104" | "FB110" => (Change::HealthCritical, "no health errors".to_owned()),
        rule => (
            Change::RuleViolated,
            match catalogue::find(rule) {
                Some(rule) => format!("held: {}", rule.checks),
                None => "held".to_owned(),
            },
        ),
    };
    DriftItem {
        address: finding.address.to_string(),
        kind: drift_kinds::RULE_VIOLATED,
        change,
        rule: Some(finding.rule.clone()),
        object: object_of(config, reprotects, &finding.address, &finding.rule),
        before,
        after: observed.unwrap_or_else(|| finding.message.clone()),
        message: finding.message.clone(),
        remediation: finding.remediation.clone(),
    }
}

/// The health of what the applied reprotects replicate through: their items, master
/// targets and configuration servers. No rule looks at these once a reprotect is done.
fn degraded(
    resolution: &Resolution<'_>,
    observed_at: Option<DateTime<Utc>>,
    applied: &BTreeSet<String>,
) -> Vec<DriftItem> {
    let mut items = Vec::new();
    let mut master_targets = BTreeSet::new();
    let mut configuration_servers = BTreeSet::new();
    for r in &resolution.reprotects {
        if !applied.contains(&r.config.address.to_string()) {
            continue;
        }
        master_targets.insert(r.config.master_target.target.clone());
        if let Ok(cs) = &r.configuration_server {
            configuration_servers.insert(cs.address.clone());
        }
        let Ok(item) = &r.protected_item else {
            continue;
        };
        // One no longer protected is told as such by the plan.
        if reprotect_readiness(item) != ReprotectReadiness::AlreadyReprotected {
            continue;
        }
        let critical = item
            .replication_health
            .as_deref()
            .is_some_and(|h| h.eq_ignore_ascii_case("Critical"));
        let errors = error_texts(&item.health_errors, false);
        if critical || !errors.is_empty() {
            let mut after = vec![format!(
                "replication health {}",
                item.replication_health.as_deref().unwrap_or("not reported")
            )];
            after.extend(errors);
            items.push(DriftItem {
                address: r.config.address.to_string(),
                kind: drift_kinds::DEGRADED,
                change: Change::HealthCritical,
                rule: None,
                object: format!("protected item {}", item.name),
                before: "replication healthy".to_owned(),
                after: after.join("; "),
                message: format!(
                    "the reverse replication of {} reports critical health",
                    item.name
                ),
                remediation: format!(
                    "open {} in the vault and follow its health errors' recommended \
                     actions (process server, master target and connectivity first)",
                    item.friendly_name
                ),
            });
        }
    }
    for mt in &resolution.master_targets {
        if !master_targets.contains(&mt.config.address) {
            continue;
        }
        let Ok(server) = &mt.server else { continue };
        let object = format!("master target {}", server.name);
        let stopped = stale(observed_at, server.last_heartbeat);
        if let Some(item) = stopped {
            items.push(heartbeat_stopped(
                &mt.config.address,
                &object,
                item,
                "check that the master target VM runs and reaches the configuration server \
                 (its services, port 443 and 9443)",
            ));
        }
        let errors = error_texts(&server.health_errors, stopped.is_some());
        if !errors.is_empty() {
            items.push(health_critical(&mt.config.address, &object, errors));
        }
    }
    for cs in &resolution.configuration_servers {
        if !configuration_servers.contains(&cs.config.address) {
            continue;
        }
        let Ok(fabric) = &cs.fabric else { continue };
        let object = format!("configuration server {}", fabric.friendly_name);
        let stopped = stale(observed_at, fabric.last_heartbeat);
        if let Some(item) = stopped {
            items.push(heartbeat_stopped(
                &cs.config.address,
                &object,
                item,
                "check that the configuration server runs and reaches Azure (its services \
                 and outbound port 443)",
            ));
        }
        let errors = error_texts(&fabric.health_errors, stopped.is_some());
        if !errors.is_empty() {
            items.push(health_critical(&cs.config.address, &object, errors));
        }
    }
    items
}

/// `(last heartbeat, minutes before discovery)` when older than the heartbeat timeout.
/// Without a time of discovery nothing is called stale: `plan` reports what it could
/// not check.
fn stale(
    observed_at: Option<DateTime<Utc>>,
    heartbeat: Option<DateTime<Utc>>,
) -> Option<(DateTime<Utc>, i64)> {
    let (observed_at, heartbeat) = (observed_at?, heartbeat?);
    let age = observed_at - heartbeat;
    (age > chrono::Duration::minutes(HEARTBEAT_TIMEOUT_MINUTES))
        .then_some((heartbeat, age.num_minutes()))
}

fn heartbeat_stopped(
    address: &Address,
    object: &str,
    (heartbeat, minutes): (DateTime<Utc>, i64),
    remediation: &str,
) -> DriftItem {
    DriftItem {
        address: address.to_string(),
        kind: drift_kinds::DEGRADED,
        change: Change::HeartbeatStopped,
        rule: None,
        object: object.to_owned(),
        before: format!("heartbeat within {HEARTBEAT_TIMEOUT_MINUTES} minutes"),
        after: format!(
            "last heartbeat {} ({minutes} minutes before discovery)",
            heartbeat.to_rfc3339()
        ),
        message: format!(
            "{object} has not reached the configuration server for {minutes} minutes; \
             reverse replication through it stalls"
        ),
        remediation: remediation.to_owned(),
    }
}

fn health_critical(address: &Address, object: &str, errors: Vec<String>) -> DriftItem {
    DriftItem {
        address: address.to_string(),
        kind: drift_kinds::DEGRADED,
        change: Change::HealthCritical,
        rule: None,
        object: object.to_owned(),
        before: "no health errors".to_owned(),
        after: errors.join("; "),
        message: format!("{object} reports health errors"),
        remediation: format!("follow the recommended actions of {object}'s health errors"),
    }
}

/// `CODE: message` of each error-level health error (an error without a level counts),
/// leaving out the missing-heartbeat errors when the stopped heartbeat is told already.
fn error_texts(errors: &[HealthError], heartbeat_told: bool) -> Vec<String> {
    errors
        .iter()
        .filter(|e| {
            e.level
                .as_deref()
                .is_none_or(|l| l.eq_ignore_ascii_case("Error"))
        })
        .filter(|e| !(heartbeat_told && e.code.to_ascii_lowercase().contains("heartbeat")))
        .map(|e| format!("{}: {}", e.code, e.message))
        .collect()
}

/// How a VM is named for an address: the master target's own VM, or a reprotect's.
fn vm_label(address: &Address) -> &'static str {
    if address.kind == "master_target" {
        "master target VM"
    } else {
        "VM"
    }
}

/// The declared reprotects with what they resolved to, by address.
type Reprotects<'a> = HashMap<&'a Address, &'a ResolvedReprotect<'a>>;

/// The protection state the vault reports for a reprotect's item, found as the
/// planner finds it (by name or friendly name).
fn protection_state_of(reprotects: &Reprotects<'_>, address: &Address) -> Option<String> {
    let item = reprotects.get(address)?.protected_item.as_ref().ok()?;
    Some(item.protection_state.clone())
}

fn protected_item_of(reprotects: &Reprotects<'_>, address: &Address) -> String {
    match reprotects.get(address) {
        Some(r) => format!("protected item {}", r.config.protected_item),
        None => address.to_string(),
    }
}

/// The object a finding is about, by its name outside failback.
fn object_of(
    config: &Config,
    reprotects: &Reprotects<'_>,
    address: &Address,
    rule: &str,
) -> String {
    match address.kind.as_str() {
        "master_target" => match config.master_target(address) {
            Some(mt) if matches!(rule, "FB107" | "FB108" | "FB113" | "FB115" | "FB116") => {
                format!("master target VM {}", mt.vm)
            }
            Some(mt) => format!("master target {}", mt.server_name),
            None => address.to_string(),
        },
        "process_server" => match config.process_server(address) {
            Some(ps) => format!("process server {}", ps.server_name),
            None => address.to_string(),
        },
        "configuration_server" => match config.configuration_server(address) {
            Some(cs) => format!("configuration server {}", cs.fabric),
            None => address.to_string(),
        },
        "reprotect" => match reprotects.get(address).map(|r| r.config) {
            Some(r) if matches!(rule, "FB102" | "FB111" | "FB112" | "FB122" | "FB128") => {
                format!("VM {}", r.vm.as_deref().unwrap_or(&r.protected_item))
            }
            Some(r) => format!("protected item {}", r.protected_item),
            None => address.to_string(),
        },
        _ => address.to_string(),
    }
}

/// `2 snapshots: a, b` from a JSON list of names.
fn snapshots_text(value: &serde_json::Value) -> String {
    let names: Vec<&str> = value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|name| name.as_str())
        .collect();
    if names.is_empty() {
        "snapshots".to_owned()
    } else {
        format!("{}: {}", counted(names.len(), "snapshot"), names.join(", "))
    }
}

/// A flat JSON object as `key = value, key = value`.
fn compact(value: &serde_json::Value) -> String {
    match value.as_object() {
        Some(map) => map
            .iter()
            .map(|(key, value)| match value.as_str() {
                Some(text) => format!("{key} = {text}"),
                None => format!("{key} = {value}"),
            })
            .collect::<Vec<_>>()
            .join(", "),
        None => value.to_string(),
    }
}
