//! The prerequisite rules FB101–FB130 (`RULES.md`, `docs/rules.md`): pure functions of
//! the configuration and the observed state that yield [`Finding`]s.
//!
//! Rules never do I/O and never pass silently: when what was discovered does not let a
//! rule decide, it reports [`Status::CouldNotCheck`] with the reason. Each rule is one
//! small function in a module of its subject; they all read the same
//! [`resolve::Resolution`], so a missing link is explained
//! the same way everywhere. Fixable rules (FB102, FB107, FB115) yield [`Fix`]es instead
//! of errors when the configuration opts in; `acknowledge` blocks mark findings as
//! acknowledged, which stops them from blocking.

mod acknowledge;
pub mod catalogue;
mod datastores;
mod fixes;
mod master_target;
mod policy;
mod protected_item;
mod retention;
mod topology;
mod vcenter_access;
mod vm;
pub mod wording;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::{Address, Config, Span};
use crate::observe::Observed;
use crate::resolve::{self, Resolution, Unresolved};

pub use acknowledge::unknown_acknowledgements;
pub use catalogue::Rule;
pub use fixes::{Fix, fixes};
pub use master_target::MAX_MASTER_TARGET_DISKS;
pub use protected_item::{HEARTBEAT_TIMEOUT_MINUTES, REVERSE_REPLICATE};
pub use protected_item::{ReprotectReadiness, agent_registered, reprotect_readiness};

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

impl Finding {
    /// Whether this finding stops apply: an error that is not acknowledged. An error
    /// rule that could not be checked blocks too (fail closed: a prerequisite nobody
    /// verified is not assumed to hold); check it by hand and acknowledge it with the
    /// reason to go on. Warnings and advice never block.
    pub fn blocks(&self) -> bool {
        self.severity == Severity::Error && self.acknowledged.is_none()
    }
}

/// Rules that need no discovery, run by `failback validate` as well as by `plan`.
pub fn check_config(config: &Config) -> Vec<Finding> {
    let mut findings = Vec::new();
    topology::fb104_one_configuration_server(config, &mut findings);
    datastores::fb118_datastore_given(config, &mut findings);
    topology::fb121_one_master_target_per_plan(config, &mut findings);
    finish(config, findings)
}

/// Every rule FB101–FB130 against the configuration and one observation.
pub fn check(config: &Config, observed: &Observed) -> Vec<Finding> {
    run_all(&Context::new(config, observed))
}

fn run_all(context: &Context<'_>) -> Vec<Finding> {
    let config = context.config;
    let mut findings = Vec::new();
    let f = &mut findings;
    let c = context;
    vcenter_access::fb101_discovery_privileges(c, f);
    vm::fb102_vm_has_no_snapshots(c, f);
    topology::fb103_process_server_placement(c, f);
    topology::fb104_process_server_connected(c, f);
    topology::fb104_one_configuration_server(config, f);
    master_target::fb105_os_family_matches(c, f);
    protected_item::fb106_configuration_server_knows_vm(c, f);
    master_target::fb107_disk_enable_uuid(c, f);
    master_target::fb108_no_storage_vmotion(c, f);
    retention::fb109_retention_volume_usable(c, f);
    protected_item::fb110_agent_connected(c, f);
    datastores::fb111_vm_datastores_writable(c, f);
    vm::fb112_vm_exists(c, f);
    master_target::fb113_tools_running(c, f);
    datastores::fb114_datastore_is_vmfs_on_host(c, f);
    master_target::fb115_master_target_has_no_snapshots(c, f);
    master_target::fb116_lsi_logic_controller(c, f);
    protected_item::fb117_agent_registered(c, f);
    datastores::fb118_datastore_given(config, f);
    policy::fb119_policy_matches(c, f);
    topology::fb120_replication_group_in_one_plan(c, f);
    topology::fb121_one_master_target_per_plan(config, f);
    topology::fb121_one_master_target_per_group(c, f);
    vm::fb122_no_uuid_conflict(c, f);
    vm::fb123_static_ip(c, f);
    vcenter_access::fb124_host_licence(c, f);
    vcenter_access::fb125_discovered_by_configuration_server(c, f);
    protected_item::fb126_not_physical_2008_r2(c, f);
    master_target::fb127_disk_limit(c, f);
    vm::fb128_vm_powered_off(c, f);
    protected_item::fb129_ready_for_reprotect(c, f);
    retention::fb130_retention_free_space(c, f);
    finish(config, findings)
}

/// Every finding and every opted-in fix, from one resolution of the configuration
/// (what `plan` needs; [`check`] and [`fixes`] each resolve on their own).
pub fn assess(config: &Config, observed: &Observed) -> (Vec<Finding>, Vec<Fix>) {
    let context = Context::new(config, observed);
    (run_all(&context), fixes::fixes_in(&context))
}

/// Applies acknowledgements and puts findings in a stable order: by rule, then object.
fn finish(config: &Config, mut findings: Vec<Finding>) -> Vec<Finding> {
    acknowledge::apply(config, &mut findings);
    findings.sort_by(|a, b| {
        (&a.rule, &a.address, &a.span.start, &a.message).cmp(&(
            &b.rule,
            &b.address,
            &b.span.start,
            &b.message,
        ))
    });
    findings
}

impl Context<'_> {
    /// How long before discovery `heartbeat` was, when that is longer than the
    /// heartbeat timeout; `None` when it is recent, or when the observation has no
    /// time of discovery (then a could-not-check finding is pushed).
    pub(crate) fn stale_heartbeat(
        &self,
        subject: &Subject<'_>,
        heartbeat: DateTime<Utc>,
        findings: &mut Vec<Finding>,
    ) -> Option<chrono::Duration> {
        let Some(observed_at) = self.observed_at else {
            findings.push(subject.unknown("the observation records no time of discovery"));
            return None;
        };
        let age = observed_at - heartbeat;
        (age > chrono::Duration::minutes(HEARTBEAT_TIMEOUT_MINUTES)).then_some(age)
    }
}

/// What every rule reads: the configuration, the observation, their resolution and
/// the moment of discovery (heartbeat ages are measured against it, never the clock,
/// so that a recorded observation gives the same findings tomorrow).
pub(crate) struct Context<'a> {
    pub config: &'a Config,
    pub resolution: Resolution<'a>,
    pub observed_at: Option<DateTime<Utc>>,
}

impl<'a> Context<'a> {
    pub fn new(config: &'a Config, observed: &'a Observed) -> Context<'a> {
        Context {
            config,
            resolution: resolve::resolve(config, observed),
            observed_at: observed.observed_at,
        }
    }

    /// The reprotects that may still run: all but those whose item is already
    /// protected in the reverse direction. Preconditions of the reprotect operation
    /// itself (the VM's snapshots, power state, datastores) do not apply to those: the
    /// plan shows them unchanged, and an error there must not block the others.
    pub fn pending_reprotects(&self) -> impl Iterator<Item = &resolve::ResolvedReprotect<'a>> {
        self.resolution.reprotects.iter().filter(|r| {
            !r.protected_item.as_ref().is_ok_and(|item| {
                reprotect_readiness(item) == ReprotectReadiness::AlreadyReprotected
            })
        })
    }
}

/// One rule about one object: builds its findings.
pub(crate) struct Subject<'a> {
    pub rule: &'static Rule,
    pub address: &'a Address,
    pub span: &'a Span,
}

impl<'a> Subject<'a> {
    pub fn new(rule: &'static Rule, address: &'a Address, span: &'a Span) -> Subject<'a> {
        Subject {
            rule,
            address,
            span,
        }
    }

    pub fn violated(
        &self,
        message: impl Into<String>,
        observed: Option<String>,
        remediation: impl Into<String>,
    ) -> Finding {
        Finding {
            rule: self.rule.id.to_owned(),
            severity: self.rule.severity,
            status: Status::Violated,
            address: self.address.clone(),
            span: self.span.clone(),
            message: message.into(),
            observed,
            remediation: remediation.into(),
            acknowledged: None,
        }
    }

    /// The rule cannot be decided; `reason` says what is missing.
    pub fn unknown(&self, reason: impl Into<String>) -> Finding {
        let reason = reason.into();
        Finding {
            rule: self.rule.id.to_owned(),
            severity: self.rule.severity,
            status: Status::CouldNotCheck {
                reason: reason.clone(),
            },
            address: self.address.clone(),
            span: self.span.clone(),
            message: format!("could not check that {}: {reason}", self.rule.checks),
            observed: None,
            remediation: self.unknown_remediation(),
            acknowledged: None,
        }
    }

    /// What to do about a rule that could not be checked: where to acknowledge it.
    fn unknown_remediation(&self) -> String {
        let acknowledge = format!("acknowledge \"{}\" {{ reason = \"...\" }}", self.rule.id);
        match self.address.kind.as_str() {
            "vcenter" => format!(
                "make discovery see what is missing, or check by hand and add \
                 {acknowledge} to the configuration_server that uses {} to go on",
                self.address
            ),
            "failback_policy" => "make discovery see what is missing, or check by hand \
                                  (a warning does not block apply)"
                .to_owned(),
            _ => format!(
                "make discovery see what is missing, or check by hand and add \
                 {acknowledge} to {} to go on",
                self.address
            ),
        }
    }

    /// The rule cannot be decided because a link of the chain is missing.
    pub fn unresolved(&self, missing: &Unresolved) -> Finding {
        self.unknown(missing.reason.clone())
    }
}

/// Whether two free strings of an API are the same value (ASR and vSphere do not agree
/// on case across versions).
pub(crate) fn same(a: &str, b: &str) -> bool {
    a.trim_ascii().eq_ignore_ascii_case(b.trim_ascii())
}

/// An observed OS type (`Windows`, `linux`) as a family; `None` for anything else.
pub(crate) fn os_family(value: &str) -> Option<crate::config::OsFamily> {
    if same(value, "windows") {
        Some(crate::config::OsFamily::Windows)
    } else if same(value, "linux") {
        Some(crate::config::OsFamily::Linux)
    } else {
        None
    }
}

/// `Ok(x)` → `x`, else push a could-not-check finding and go to the next object.
macro_rules! require {
    ($link:expr, $subject:expr, $findings:expr) => {
        match &$link {
            Ok(found) => *found,
            Err(missing) => {
                $findings.push($subject.unresolved(&missing));
                continue;
            }
        }
    };
}
pub(crate) use require;

#[cfg(test)]
pub(crate) mod testing;

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;

    #[test]
    fn a_healthy_world_has_no_findings() {
        let world = TestWorld::healthy();
        assert_eq!(check(&world.config, &world.observed), Vec::new());
        assert_eq!(check_config(&world.config), Vec::new());
    }

    #[test]
    fn nothing_discovered_means_could_not_check_never_a_pass() {
        let mut world = TestWorld::healthy();
        world.observed.vaults.clear();
        world.observed.vcenters.clear();
        let findings = check(&world.config, &world.observed);
        // Every discovery-bound rule reports, for each object it is about.
        let rules: std::collections::BTreeSet<&str> =
            findings.iter().map(|f| f.rule.as_str()).collect();
        for rule in catalogue::ALL {
            let config_only = ["FB103", "FB118", "FB120", "FB121"];
            if !config_only.contains(&rule.id) {
                assert!(rules.contains(rule.id), "{} passed silently", rule.id);
            }
        }
        // Unverified errors fail closed.
        assert!(
            findings
                .iter()
                .all(|f| f.blocks() == (f.severity == Severity::Error))
        );
        assert!(
            findings
                .iter()
                .all(|f| matches!(f.status, Status::CouldNotCheck { .. }))
        );
    }
}

#[cfg(test)]
mod snapshot_tests {
    use super::testing::*;
    use super::*;
    use crate::config::ProcessServerLocation;

    /// A realistic world with a bit of everything wrong, as an operator would meet it
    /// on the morning after a failover.
    fn broken_world() -> TestWorld {
        let mut world = TestWorld::healthy();
        // web01: still has a snapshot, is powered on (acknowledged), not committed yet.
        world.vm_mut("web01").snapshots = vec!["before-patch".to_owned()];
        world.vm_mut("web01").power_state = "poweredOn".to_owned();
        world
            .reprotect_mut("web01")
            .acknowledgements
            .push(acknowledgement(
                "FB128",
                "powered off by the change runbook",
            ));
        let item = world.item_mut("web01-item");
        item.protection_state = "UnplannedFailoverCommitPendingStatesBegin".to_owned();
        item.protection_state_description = Some("Failover completed".to_owned());
        item.allowed_operations = vec!["Commit".to_owned(), "ChangePit".to_owned()];
        // db01: an NFS datastore, an agent not registered yet, static IP unknown.
        world.reprotect_mut("db01").datastore = Some("nfs-archive".to_owned());
        world.master_target_mut("mt_lnx").datastores.clear();
        world.item_mut("db01-item").agent_last_heartbeat = None;
        world.item_mut("db01-item").static_ip = None;
        // The Windows master target: Paravirtual SCSI, no disk.EnableUUID (fix opted
        // in, so no error), and a full retention volume.
        world.vm_mut("mt-win-01").scsi_controllers = vec!["ParaVirtualSCSIController".to_owned()];
        world.vm_mut("mt-win-01").extra_config.clear();
        world.master_target_mut("mt_win").ensure_disk_enable_uuid = true;
        world
            .fabric_master_target_mut("mt-win-01")
            .retention_volumes[0]
            .free_space_bytes = Some(50 * GB);
        // The Linux master target: VMware Tools stopped.
        world.vm_mut("mt-lnx-01").tools_running_status = "guestToolsNotRunning".to_owned();
        // The process server on-premises although Azure is reached over a VPN.
        world.config.process_servers[0].location = ProcessServerLocation::Onprem;
        // The discovery account may not browse the NFS datastore.
        if let Some(granted) = world.vcenter_mut().privileges.get_mut("datastore-2") {
            granted.insert("Datastore.Browse".to_owned(), false);
        }
        // Both machines in one plan, through two master targets.
        world.add_recovery_plan("erp", &["web01", "db01"]);
        world
    }

    #[test]
    fn the_findings_of_a_broken_world() {
        let world = broken_world();
        let (findings, fixes) = assess(&world.config, &world.observed);
        insta::assert_json_snapshot!("broken_world_findings", findings);
        insta::assert_json_snapshot!("broken_world_fixes", fixes);
        assert_eq!(findings, check(&world.config, &world.observed));
        let blocking: Vec<&str> = findings
            .iter()
            .filter(|f| f.blocks())
            .map(|f| f.rule.as_str())
            .collect();
        assert_eq!(
            blocking,
            [
                "FB101", "FB102", "FB113", "FB114", "FB116", "FB121", "FB129"
            ]
        );
    }
}
