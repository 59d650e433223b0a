//! Test helpers for the rules: run them on a fixture world and pick out one rule's
//! findings, so that each test states its one fact in a few lines.

use super::{Finding, Status, check};
use crate::resolve::fixture::World;

pub(crate) use crate::resolve::fixture::{GB, World as TestWorld, acknowledgement, reference};

pub(crate) fn findings_of(world: &World, rule: &str) -> Vec<Finding> {
    check(&world.config, &world.observed)
        .into_iter()
        .filter(|finding| finding.rule == rule)
        .collect()
}

/// The rule holds: it reports nothing.
#[track_caller]
pub(crate) fn assert_holds(world: &World, rule: &str) {
    let findings = findings_of(world, rule);
    assert!(
        findings.is_empty(),
        "{rule} should hold, found {findings:#?}"
    );
}

/// The rule is violated for exactly this object; returns the finding.
#[track_caller]
pub(crate) fn assert_violated(world: &World, rule: &str, address: &str) -> Finding {
    let findings = findings_of(world, rule);
    let mut matching = findings
        .iter()
        .filter(|finding| finding.address.to_string() == address);
    match (matching.next(), matching.next()) {
        (Some(finding), None) if finding.status == Status::Violated => finding.clone(),
        _ => panic!("{rule} should be violated once for {address}, found {findings:#?}"),
    }
}

/// The rule could not be checked for this object; returns the reason.
#[track_caller]
pub(crate) fn assert_unknown(world: &World, rule: &str, address: &str) -> String {
    let findings = findings_of(world, rule);
    let found = findings
        .iter()
        .find(|finding| finding.address.to_string() == address);
    match found.map(|finding| &finding.status) {
        Some(Status::CouldNotCheck { reason }) => reason.clone(),
        _ => panic!("{rule} should be could-not-check for {address}, found {findings:#?}"),
    }
}
