//! Making plans: the diff of the desired configuration against the observed state and
//! the prior state, turned into ordered, typed actions.
//!
//! [`make_plan`] is a pure function: the same configuration, observation, state and
//! rule verdicts always give the same plan, byte for byte once serialised. It never
//! does I/O; discovery happens before, rendering (human, JSON, Markdown) lives in the
//! CLI, and executing lives in `apply`. The data types are in [`model`].

mod diff;
pub mod model;
mod order;
pub mod target;
#[cfg(any(test, feature = "test-support"))]
pub mod worlds;

use std::collections::BTreeMap;

use foldhash::HashSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::{Address, Config};
use crate::digest::Sha256Writer;
use crate::observe::Observed;
use crate::rules::Finding;

pub use model::*;

/// What the plan needs to know of the last applied state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriorState {
    /// `None` before the first apply.
    pub lineage: Option<String>,
    pub serial: u64,
}

/// A change a rule asks for when the configuration opted in to fixing it; made by
/// the rules, ordered here before the reprotects that need it.
pub use crate::rules::Fix;

/// What the rules concluded: every finding, and the fixes they offer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Assessment {
    pub findings: Vec<Finding>,
    pub fixes: Vec<Fix>,
}

/// What the caller knows about the run itself.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanMeta {
    pub tool_version: String,
    pub created_at: DateTime<Utc>,
    /// From [`config_digest`].
    pub config_digest: String,
}

/// Makes the plan: which reprotects are needed, done, drifted or impossible, which
/// fixes come first, and in which order everything runs. The plan keeps `observed`,
/// so that `show` and `apply FILE` can replay it.
pub fn make_plan(
    config: &Config,
    observed: Observed,
    state: &PriorState,
    assessment: Assessment,
    meta: PlanMeta,
) -> Plan {
    // Recording the desired configuration and digesting the observed state are the
    // two largest steps at thousands of reprotects, and depend on nothing else here:
    // they run beside the diff, on a second core when there is one.
    let records = || (DesiredRecord::of(config), observed.digest());
    let ((desired, observed_digest), plan) = std::thread::scope(|scope| {
        let records_beside = std::thread::Builder::new()
            .name("plan-records".to_owned())
            .spawn_scoped(scope, records);
        let plan = plan_without_records(config, &observed, state, assessment, meta);
        let records = match records_beside {
            Ok(handle) => match handle.join() {
                Ok(records) => records,
                Err(panic) => std::panic::resume_unwind(panic),
            },
            // No thread to be had: do it here.
            Err(_) => records(),
        };
        (records, plan)
    });
    Plan {
        desired,
        observed_digest,
        observed,
        ..plan
    }
}

/// The whole plan, with `desired`, `observed_digest` and `observed` left empty for
/// the caller to fill.
fn plan_without_records(
    config: &Config,
    observed: &Observed,
    state: &PriorState,
    assessment: Assessment,
    meta: PlanMeta,
) -> Plan {
    let diff = diff::diff(config, observed, &assessment.fixes);
    let mut ordered = order::order(config, diff.actions);
    let unchanged: HashSet<&Address> = diff.unchanged.iter().collect();
    for unit in &mut ordered.units {
        unit.unchanged_members = unit
            .members
            .iter()
            .filter(|member| unchanged.contains(member))
            .cloned()
            .collect();
    }

    let mut findings = assessment.findings;
    findings.sort_by(|a, b| {
        (&a.address, &a.rule, &a.message, &a.span).cmp(&(&b.address, &b.rule, &b.message, &b.span))
    });

    Plan {
        format_version: PLAN_FORMAT_VERSION.to_owned(),
        tool_version: meta.tool_version,
        created_at: meta.created_at,
        config_digest: meta.config_digest,
        observed_digest: String::new(),
        state_lineage: state.lineage.clone(),
        state_serial: state.serial,
        actions: ordered.actions,
        units: ordered.units,
        findings,
        drift: diff.drift,
        unchanged: diff.unchanged,
        not_planned: diff.not_planned,
        desired: DesiredRecord::none(),
        observed: Observed::default(),
        targets: Vec::new(),
    }
}

/// The configuration digest: SHA-256 over the `*.hcl` files (path and contents,
/// sorted by path) and the variable inputs (sorted by name). Any edit to a file or a
/// variable changes it.
pub fn config_digest(files: &[(String, String)], variables: &BTreeMap<String, String>) -> String {
    let mut sorted: Vec<&(String, String)> = files.iter().collect();
    sorted.sort();
    let mut hasher = Sha256Writer::new();
    for (path, contents) in sorted {
        // Lengths keep ("ab","c") apart from ("a","bc").
        hasher.update(&(path.len() as u64).to_le_bytes());
        hasher.update(path.as_bytes());
        hasher.update(&(contents.len() as u64).to_le_bytes());
        hasher.update(contents.as_bytes());
    }
    hasher.update(b"\0variables\0");
    for (name, value) in variables {
        hasher.update(&(name.len() as u64).to_le_bytes());
        hasher.update(name.as_bytes());
        hasher.update(&(value.len() as u64).to_le_bytes());
        hasher.update(value.as_bytes());
    }
    hasher.finish()
}

#[cfg(test)]
mod tests;
