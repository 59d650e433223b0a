//! The prerequisite rules FB101–FB130 (`RULES.md`, `docs/rules.md`): pure functions of
//! the configuration and the observed state that yield [`Finding`]s.
//!
//! Rules never do I/O and never pass silently: when what was discovered does not let a
//! rule decide, it reports [`Status::CouldNotCheck`] with the reason.

use serde::{Deserialize, Serialize};

use crate::config::{Address, Config, Span};

/// How much a finding matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Advice,
    Warning,
    Error,
}

/// Whether a rule held for an object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Status {
    /// The rule is broken.
    Violated,
    /// The rule could not be decided from what was discovered; `reason` says why.
    CouldNotCheck { reason: String },
}

/// One rule's verdict about one object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// `FB118`.
    pub rule: String,
    pub severity: Severity,
    pub status: Status,
    /// The object it concerns.
    pub address: Address,
    /// The HCL that declared it (the attribute when one is to blame).
    pub span: Span,
    /// What is wrong, in one sentence.
    pub message: String,
    /// What was observed, when discovery saw something.
    pub observed: Option<String>,
    /// What to do.
    pub remediation: String,
    /// The reason given in an `acknowledge` block, when the rule was acknowledged.
    pub acknowledged: Option<String>,
}

/// Rules that need no discovery, run by `failback validate` as well as by `plan`.
pub fn check_config(config: &Config) -> Vec<Finding> {
    let mut findings = Vec::new();
    fb118_datastore_given(config, &mut findings);
    findings
}

/// FB118: a datastore must be given for every reprotect, even when the disks exist.
fn fb118_datastore_given(config: &Config, findings: &mut Vec<Finding>) {
    for reprotect in &config.reprotects {
        if reprotect.datastore.is_some() {
            continue;
        }
        let in_plan_with_datastore = config.recovery_plans.iter().any(|plan| {
            plan.datastore.is_some()
                && plan
                    .members
                    .iter()
                    .any(|member| member.target == reprotect.address)
        });
        if in_plan_with_datastore {
            continue;
        }
        findings.push(Finding {
            rule: "FB118".to_owned(),
            severity: Severity::Error,
            status: Status::Violated,
            address: reprotect.address.clone(),
            span: reprotect.declared.span.clone(),
            message: format!("{} names no datastore", reprotect.address),
            observed: None,
            remediation: "add `datastore = \"...\"`: ASR needs it even when the disks \
                          already exist, to place the VM if it was deleted on-premises"
                .to_owned(),
            acknowledged: None,
        });
    }
}
