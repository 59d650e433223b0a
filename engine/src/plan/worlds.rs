//! Hand-built worlds for tests and benchmarks: a configuration with its HCL source
//! text (spans that point into it), an observed snapshot and the rules' verdicts,
//! for the situations a plan must handle (all new, all done, drift, errors and
//! acknowledgements, a recovery-plan unit, destructive snapshot removal, and large
//! generated estates).
//!
//! Only built with the `test-support` feature or in this crate's tests. The rules'
//! unit tests use the smaller `resolve::fixture` world, where each test breaks one fact.

use std::fmt::Write as _;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::json;

use crate::config::*;
use crate::observe::Observed;
use crate::observe::vault::{
    Fabric, MasterTarget as ObservedMasterTarget, Policy, ProcessServer as ObservedProcessServer,
    ProtectedItem, RecoveryPlan as ObservedRecoveryPlan, RetentionVolume, ReverseReplication,
    RunAsAccount, VaultInventory,
};
use crate::provider::ProviderAction;
use crate::rules::{Finding, Severity, Status};

use super::{Assessment, Fix, PlanMeta, PriorState};

/// The name of the one HCL file of a world.
pub const MAIN_FILE: &str = "main.hcl";
const VAULT_PREFIX: &str = "/subscriptions/sub-1/resourceGroups/rg-dr/providers/Microsoft.RecoveryServices/vaults/dr-vault";

/// Everything `make_plan` and the renderers need.
#[derive(Debug, Clone)]
pub struct World {
    pub config: Config,
    pub observed: Observed,
    pub assessment: Assessment,
    pub state: PriorState,
    /// `(file, text)` of the configuration, for diagnostics with snippets.
    pub sources: Vec<(String, String)>,
}

impl World {
    /// Fixed metadata so that plans of a world are reproducible.
    pub fn meta(&self) -> PlanMeta {
        PlanMeta {
            tool_version: "0.1.0".to_owned(),
            created_at: fixed_time(),
            config_digest: super::config_digest(&self.sources, &Default::default()),
        }
    }

    pub fn plan(&self) -> super::Plan {
        super::make_plan(
            &self.config,
            self.observed.clone(),
            &self.state,
            self.assessment.clone(),
            self.meta(),
        )
    }
}

pub fn fixed_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, 9, 30, 0)
        .single()
        .unwrap_or_default()
}

/// How a protected item stands in the vault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemState {
    /// Failed over, committed, ReverseReplicate allowed; agent registered.
    FailedOver,
    /// As `FailedOver`, but the agent has not registered yet (FB117).
    FailedOverAgentPending,
    /// Reprotected to on-premises with exactly the declared values.
    ReprotectedAsDeclared,
    /// Reprotected, through another master target and datastore.
    ReprotectedElsewhere,
    /// Still replicating to Azure: not failed over.
    ForwardProtected,
}

/// One VM to reprotect.
#[derive(Debug, Clone)]
pub struct Machine {
    pub name: String,
    pub linux: bool,
    pub state: ItemState,
    pub datastore: Option<String>,
    pub remove_snapshots: bool,
}

impl Machine {
    pub fn new(name: &str, state: ItemState) -> Machine {
        Machine {
            name: name.to_owned(),
            linux: true,
            state,
            datastore: Some("ds-vmfs-01".to_owned()),
            remove_snapshots: false,
        }
    }

    pub fn windows(mut self) -> Machine {
        self.linux = false;
        self
    }
}

/// A builder of worlds: the fixed components (one vCenter, one vault, one
/// configuration server with a process server in Azure and a Linux and a Windows
/// master target) plus the machines and recovery plans given.
#[derive(Debug, Clone, Default)]
pub struct WorldBuilder {
    machines: Vec<Machine>,
    recovery_plans: Vec<(String, Vec<String>)>,
    ensure_disk_enable_uuid: bool,
    findings: Vec<Finding>,
    acknowledge: Vec<(Address, String, String)>,
}

impl WorldBuilder {
    pub fn new() -> WorldBuilder {
        WorldBuilder::default()
    }

    pub fn machine(mut self, machine: Machine) -> WorldBuilder {
        self.machines.push(machine);
        self
    }

    pub fn recovery_plan(mut self, name: &str, members: &[&str]) -> WorldBuilder {
        self.recovery_plans.push((
            name.to_owned(),
            members.iter().map(|m| (*m).to_owned()).collect(),
        ));
        self
    }

    /// The Linux master target lacks `disk.EnableUUID` and the configuration opts in
    /// to fixing it (FB107).
    pub fn fix_disk_enable_uuid(mut self) -> WorldBuilder {
        self.ensure_disk_enable_uuid = true;
        self
    }

    /// A finding about `address` (whose span is filled in when the world is built).
    #[allow(clippy::too_many_arguments)]
    pub fn finding(
        mut self,
        rule: &str,
        severity: Severity,
        address: &str,
        message: &str,
        observed: Option<&str>,
        remediation: &str,
        could_not_check: Option<&str>,
    ) -> WorldBuilder {
        self.findings.push(Finding {
            rule: rule.to_owned(),
            severity,
            status: match could_not_check {
                Some(reason) => Status::CouldNotCheck {
                    reason: reason.to_owned(),
                },
                None => Status::Violated,
            },
            address: parse_address(address),
            span: Span::default(),
            message: message.to_owned(),
            observed: observed.map(str::to_owned),
            remediation: remediation.to_owned(),
            acknowledged: None,
        });
        self
    }

    /// Acknowledges `rule` on the reprotect `name` with `reason`.
    pub fn acknowledge(mut self, reprotect: &str, rule: &str, reason: &str) -> WorldBuilder {
        self.acknowledge.push((
            Address::new("reprotect", reprotect),
            rule.to_owned(),
            reason.to_owned(),
        ));
        self
    }

    pub fn build(self) -> World {
        let mut hcl = Hcl::default();
        let mut config = Config::default();

        let vcenter = hcl.block(
            "vcenter",
            "onprem",
            &[
                ("url", q("https://vcsa.example.local/sdk")),
                ("username", q("failback@vsphere.local")),
                ("password", "var.vcenter_password".to_owned()),
            ],
        );
        config.vcenters.push(Vcenter {
            address: Address::new("vcenter", "onprem"),
            declared: vcenter,
            url: Some("https://vcsa.example.local/sdk".to_owned()),
            username: Some("failback@vsphere.local".to_owned()),
            password: Some(Sensitive::new("s3cr3t-vcenter-password".to_owned())),
            thumbprint: None,
            ca_file: None,
            insecure: false,
        });
        let vault = hcl.block(
            "vault",
            "dr",
            &[
                ("subscription_id", q("sub-1")),
                ("resource_group", q("rg-dr")),
                ("name", q("dr-vault")),
            ],
        );
        config.vaults.push(Vault {
            address: Address::new("vault", "dr"),
            declared: vault,
            subscription_id: "sub-1".to_owned(),
            resource_group: "rg-dr".to_owned(),
            vault_name: "dr-vault".to_owned(),
            endpoint: None,
            access_token: Some(Sensitive::new("s3cr3t-arm-token".to_owned())),
        });
        let cs = hcl.block(
            "configuration_server",
            "cs01",
            &[
                ("vault", "vault.dr".to_owned()),
                ("fabric", q("cs01")),
                ("vcenter", "vcenter.onprem".to_owned()),
            ],
        );
        config.configuration_servers.push(ConfigurationServer {
            address: Address::new("configuration_server", "cs01"),
            declared: cs.clone(),
            vault: reference("vault.dr", &cs),
            fabric: "cs01".to_owned(),
            vcenter: reference("vcenter.onprem", &cs),
            acknowledgements: Vec::new(),
        });
        let ps = hcl.block(
            "process_server",
            "ps_azure",
            &[
                (
                    "configuration_server",
                    "configuration_server.cs01".to_owned(),
                ),
                ("name", q("ps-azure-01")),
                ("location", q("azure")),
            ],
        );
        config.process_servers.push(ProcessServer {
            address: Address::new("process_server", "ps_azure"),
            declared: ps.clone(),
            configuration_server: reference("configuration_server.cs01", &ps),
            server_name: "ps-azure-01".to_owned(),
            location: ProcessServerLocation::Azure,
            acknowledgements: Vec::new(),
        });
        for (label, vm, os, volume) in [
            ("mt_linux", "mt-linux-01", OsFamily::Linux, "/mnt/retention"),
            ("mt_windows", "mt-win-01", OsFamily::Windows, "R:"),
        ] {
            let mut attributes = vec![
                (
                    "configuration_server",
                    "configuration_server.cs01".to_owned(),
                ),
                ("vm", q(vm)),
                (
                    "os",
                    q(if os == OsFamily::Linux {
                        "linux"
                    } else {
                        "windows"
                    }),
                ),
                ("retention_volume", q(volume)),
                ("datastores", "[\"ds-vmfs-01\", \"ds-vmfs-02\"]".to_owned()),
            ];
            let fix = self.ensure_disk_enable_uuid && os == OsFamily::Linux;
            if fix {
                attributes.push(("ensure_disk_enable_uuid", "true".to_owned()));
            }
            let declared = hcl.block("master_target", label, &attributes);
            config.master_targets.push(MasterTarget {
                address: Address::new("master_target", label),
                declared: declared.clone(),
                configuration_server: reference("configuration_server.cs01", &declared),
                vm: vm.to_owned(),
                server_name: vm.to_owned(),
                os,
                retention_volume: volume.to_owned(),
                datastores: vec!["ds-vmfs-01".to_owned(), "ds-vmfs-02".to_owned()],
                ensure_disk_enable_uuid: fix,
                remove_snapshots: false,
                acknowledgements: Vec::new(),
            });
        }

        let mut items = Vec::new();
        let mut fixes = Vec::new();
        for machine in &self.machines {
            let mt = if machine.linux {
                "mt_linux"
            } else {
                "mt_windows"
            };
            let mut attributes = vec![
                ("protected_item", q(&machine.name)),
                ("process_server", "process_server.ps_azure".to_owned()),
                ("master_target", format!("master_target.{mt}")),
            ];
            if let Some(datastore) = &machine.datastore {
                attributes.push(("datastore", q(datastore)));
            }
            if machine.remove_snapshots {
                attributes.push(("remove_snapshots", "true".to_owned()));
            }
            let address = Address::new("reprotect", machine.name.replace('-', "_"));
            let acknowledgements: Vec<(String, String)> = self
                .acknowledge
                .iter()
                .filter(|(a, _, _)| a == &address)
                .map(|(_, rule, reason)| (rule.clone(), reason.clone()))
                .collect();
            let declared =
                hcl.block_with_acks("reprotect", &address.name, &attributes, &acknowledgements);
            let acknowledgements = acknowledgements
                .into_iter()
                .map(|(rule, reason)| Acknowledgement {
                    span: declared.span_of(&format!("acknowledge.{rule}")).clone(),
                    rule,
                    reason,
                })
                .collect();
            config.reprotects.push(Reprotect {
                address: address.clone(),
                declared: declared.clone(),
                protected_item: machine.name.clone(),
                vm: None,
                process_server: reference("process_server.ps_azure", &declared),
                master_target: reference(&format!("master_target.{mt}"), &declared),
                datastore: machine.datastore.clone(),
                retention_volume: None,
                policy: None,
                run_as_account: None,
                remove_snapshots: machine.remove_snapshots,
                acknowledgements,
            });
            items.push(protected_item(machine));
            if machine.remove_snapshots {
                fixes.push(Fix {
                    address: address.clone(),
                    rule: "FB102".to_owned(),
                    provider: "vcenter.onprem".to_owned(),
                    action: ProviderAction::VmRemoveSnapshots {
                        vm: machine.name.clone(),
                    },
                    reason: format!(
                        "{} has 2 snapshots; reprotect fails on a VM with snapshots",
                        machine.name
                    ),
                    before: json!({ "snapshots": ["before-patching", "pre-failover"] }),
                    after: json!({ "snapshots": [] }),
                });
            }
        }
        if self.ensure_disk_enable_uuid {
            fixes.push(Fix {
                address: Address::new("master_target", "mt_linux"),
                rule: "FB107".to_owned(),
                provider: "vcenter.onprem".to_owned(),
                action: ProviderAction::VmSetExtraConfig {
                    vm: "mt-linux-01".to_owned(),
                    key: "disk.EnableUUID".to_owned(),
                    value: "TRUE".to_owned(),
                },
                reason: "mt-linux-01 does not have disk.EnableUUID = TRUE".to_owned(),
                before: json!({ "disk.EnableUUID": null }),
                after: json!({ "disk.EnableUUID": "TRUE" }),
            });
        }

        let mut observed_plans = Vec::new();
        for (name, members) in &self.recovery_plans {
            let member_refs: Vec<String> =
                members.iter().map(|m| format!("reprotect.{m}")).collect();
            let declared = hcl.block(
                "recovery_plan",
                name,
                &[
                    ("name", q(&name.replace('_', "-"))),
                    ("members", format!("[{}]", member_refs.join(", "))),
                    ("master_target", "master_target.mt_linux".to_owned()),
                ],
            );
            config.recovery_plans.push(RecoveryPlan {
                address: Address::new("recovery_plan", name),
                declared: declared.clone(),
                plan_name: name.replace('_', "-"),
                members: member_refs
                    .iter()
                    .map(|m| reference(m, &declared))
                    .collect(),
                master_target: Some(reference("master_target.mt_linux", &declared)),
                process_server: None,
                datastore: None,
                acknowledgements: Vec::new(),
            });
            observed_plans.push(ObservedRecoveryPlan {
                id: format!(
                    "{VAULT_PREFIX}/replicationRecoveryPlans/{}",
                    name.replace('_', "-")
                ),
                name: name.replace('_', "-"),
                friendly_name: name.replace('_', "-"),
                members: members
                    .iter()
                    .map(|m| item_id(&m.replace('_', "-")))
                    .collect(),
                allowed_operations: vec!["Reprotect".to_owned()],
            });
            let member_items: std::collections::BTreeSet<String> =
                members.iter().map(|m| m.replace('_', "-")).collect();
            for item in &mut items {
                if member_items.contains(&item.name) {
                    item.replication_group = Some(format!("rg-{name}"));
                }
            }
        }

        let mut findings = self.findings;
        for finding in &mut findings {
            let span = span_of(&config, &finding.address);
            finding.span = span;
            let ack = config
                .reprotects
                .iter()
                .filter(|r| r.address == finding.address)
                .flat_map(|r| r.acknowledgements.iter())
                .find(|ack| ack.rule == finding.rule);
            finding.acknowledged = ack.map(|ack| ack.reason.clone());
        }

        let observed = Observed {
            observed_at: Some(fixed_time()),
            vcenters: Default::default(),
            vaults: [(
                "vault.dr".to_owned(),
                vault_inventory(items, observed_plans),
            )]
            .into_iter()
            .collect(),
        };
        World {
            config,
            observed,
            assessment: Assessment { findings, fixes },
            state: PriorState {
                lineage: Some("4b1f0c7e-9a51-4e0e-8a55-1f0d2c9e7a10".to_owned()),
                serial: 7,
            },
            sources: vec![(MAIN_FILE.to_owned(), hcl.text)],
        }
    }
}

fn parse_address(text: &str) -> Address {
    Address::try_from(text.to_owned()).unwrap_or_else(|_| Address::new("unknown", text))
}

fn span_of(config: &Config, address: &Address) -> Span {
    let declared = config
        .reprotects
        .iter()
        .map(|r| (&r.address, &r.declared))
        .chain(
            config
                .master_targets
                .iter()
                .map(|m| (&m.address, &m.declared)),
        )
        .chain(
            config
                .process_servers
                .iter()
                .map(|p| (&p.address, &p.declared)),
        )
        .chain(
            config
                .recovery_plans
                .iter()
                .map(|p| (&p.address, &p.declared)),
        )
        .find(|(a, _)| *a == address)
        .map(|(_, declared)| declared.span.clone());
    declared.unwrap_or_default()
}

fn q(text: &str) -> String {
    format!("{text:?}")
}

fn reference(target: &str, declared: &Declared) -> Reference {
    Reference {
        target: parse_address(target),
        span: declared.span.clone(),
    }
}

/// Writes HCL text block by block, recording spans as the loader would.
#[derive(Default)]
struct Hcl {
    text: String,
    line: usize,
}

impl Hcl {
    fn block(&mut self, kind: &str, label: &str, attributes: &[(&str, String)]) -> Declared {
        self.block_with_acks(kind, label, attributes, &[])
    }

    fn block_with_acks(
        &mut self,
        kind: &str,
        label: &str,
        attributes: &[(&str, String)],
        acknowledgements: &[(String, String)],
    ) -> Declared {
        if !self.text.is_empty() {
            self.push_line("");
        }
        let start = self.text.len();
        let start_line = self.line + 1;
        self.push_line(&format!("{kind} {label:?} {{"));
        let width = attributes
            .iter()
            .map(|(name, _)| name.len())
            .max()
            .unwrap_or(0);
        let mut declared = Declared::default();
        for (name, value) in attributes {
            let line_start = self.text.len() + 2;
            self.push_line(&format!("  {name:width$} = {value}"));
            declared.attribute_spans.insert(
                (*name).to_owned(),
                Span {
                    file: MAIN_FILE.into(),
                    start: line_start,
                    end: self.text.len() - 1,
                    line: self.line,
                    column: 3,
                },
            );
        }
        for (rule, reason) in acknowledgements {
            let ack_start = self.text.len() + 2;
            self.push_line("");
            self.push_line(&format!("  acknowledge {rule:?} {{"));
            self.push_line(&format!("    reason = {reason:?}"));
            self.push_line("  }");
            declared.attribute_spans.insert(
                format!("acknowledge.{rule}"),
                Span {
                    file: MAIN_FILE.into(),
                    start: ack_start + 1,
                    end: self.text.len() - 1,
                    line: self.line - 2,
                    column: 3,
                },
            );
        }
        self.push_line("}");
        declared.span = Span {
            file: MAIN_FILE.into(),
            start,
            end: self.text.len() - 1,
            line: start_line,
            column: 1,
        };
        declared
    }

    fn push_line(&mut self, line: &str) {
        let _ = writeln!(self.text, "{line}");
        self.line += 1;
    }
}

fn item_id(name: &str) -> String {
    format!(
        "{VAULT_PREFIX}/replicationFabrics/cs01/replicationProtectionContainers/cloud_1/replicationProtectedItems/{name}"
    )
}

fn fabric_id(rest: &str) -> String {
    format!("{VAULT_PREFIX}/replicationFabrics/cs01{rest}")
}

fn protected_item(machine: &Machine) -> ProtectedItem {
    let (state, allowed, instance_type, reverse) = match machine.state {
        ItemState::FailedOver | ItemState::FailedOverAgentPending => (
            "UnplannedFailoverCommitted",
            vec!["ReverseReplicate", "DisableProtection"],
            "InMageAzureV2",
            None,
        ),
        ItemState::ReprotectedAsDeclared | ItemState::ReprotectedElsewhere => {
            let elsewhere = machine.state == ItemState::ReprotectedElsewhere;
            let mt = match (elsewhere, machine.linux) {
                (true, _) => "mt-linux-02",
                (false, true) => "mt-linux-01",
                (false, false) => "mt-win-01",
            };
            (
                "Protected",
                vec!["PlannedFailover", "DisableProtection"],
                "InMage",
                Some(ReverseReplication {
                    master_target_id: Some(fabric_id(&format!("/masterTargets/{mt}"))),
                    process_server_id: Some(fabric_id("/processServers/ps-azure-01")),
                    retention_volume: Some(
                        if machine.linux {
                            "/mnt/retention"
                        } else {
                            "R:"
                        }
                        .to_owned(),
                    ),
                    datastore: Some(if elsewhere {
                        "ds-vmfs-02".to_owned()
                    } else {
                        machine.datastore.clone().unwrap_or_default()
                    }),
                }),
            )
        }
        ItemState::ForwardProtected => (
            "Protected",
            vec!["UnplannedFailover", "TestFailover"],
            "InMageAzureV2",
            None,
        ),
    };
    ProtectedItem {
        id: item_id(&machine.name),
        name: machine.name.clone(),
        friendly_name: machine.name.clone(),
        fabric: "cs01".to_owned(),
        protection_container: fabric_id("/replicationProtectionContainers/cloud_1"),
        protection_state: state.to_owned(),
        protection_state_description: None,
        active_location: Some(
            if reverse.is_some() {
                "Recovery"
            } else {
                "Primary"
            }
            .to_owned(),
        ),
        allowed_operations: allowed.into_iter().map(str::to_owned).collect(),
        replication_health: Some("Normal".to_owned()),
        health_errors: Vec::new(),
        policy_id: Some(format!(
            "{VAULT_PREFIX}/replicationPolicies/replication-policy"
        )),
        instance_type: Some(instance_type.to_owned()),
        os_type: Some(if machine.linux { "Linux" } else { "Windows" }.to_owned()),
        os_name: None,
        machine_type: Some("VMware".to_owned()),
        disk_count: Some(2),
        vm_name: Some(machine.name.clone()),
        replication_group: None,
        ip_address: None,
        agent_last_heartbeat: if machine.state == ItemState::FailedOverAgentPending {
            None
        } else {
            Some(fixed_time())
        },
        reverse,
        ..ProtectedItem::default()
    }
}

fn vault_inventory(items: Vec<ProtectedItem>, plans: Vec<ObservedRecoveryPlan>) -> VaultInventory {
    let master_target = |name: &str, os: &str, volume: &str| ObservedMasterTarget {
        id: fabric_id(&format!("/masterTargets/{name}")),
        name: name.to_owned(),
        os_type: os.to_owned(),
        ip_address: None,
        last_heartbeat: Some(fixed_time()),
        disk_count: Some(3),
        retention_volumes: vec![RetentionVolume {
            volume_name: volume.to_owned(),
            capacity_bytes: Some(1 << 40),
            free_space_bytes: Some(1 << 39),
            threshold_percentage: Some(80),
            ..RetentionVolume::default()
        }],
        datastores: Vec::new(),
        validation_errors: Vec::new(),
        health_errors: Vec::new(),
    };
    VaultInventory {
        subscription_id: "sub-1".to_owned(),
        resource_group: "rg-dr".to_owned(),
        name: "dr-vault".to_owned(),
        fabrics: vec![Fabric {
            id: fabric_id(""),
            name: "cs01".to_owned(),
            friendly_name: "cs01.example.local".to_owned(),
            ip_address: None,
            last_heartbeat: Some(fixed_time()),
            process_servers: vec![ObservedProcessServer {
                id: fabric_id("/processServers/ps-azure-01"),
                friendly_name: "ps-azure-01".to_owned(),
                ip_address: None,
                last_heartbeat: Some(fixed_time()),
                health: Some("Normal".to_owned()),
                health_errors: Vec::new(),
            }],
            master_targets: vec![
                master_target("mt-linux-01", "Linux", "/mnt/retention"),
                master_target("mt-linux-02", "Linux", "/mnt/retention"),
                master_target("mt-win-01", "Windows", "R:"),
            ],
            run_as_accounts: vec![RunAsAccount {
                account_id: "1".to_owned(),
                account_name: "vcenter-discovery".to_owned(),
            }],
            vcenters: Vec::new(),
            protection_containers: vec![fabric_id("/replicationProtectionContainers/cloud_1")],
            health_errors: Vec::new(),
        }],
        protected_items: items,
        recovery_plans: plans,
        policies: vec![
            Policy {
                id: format!("{VAULT_PREFIX}/replicationPolicies/replication-policy"),
                name: "replication-policy".to_owned(),
                friendly_name: "replication-policy".to_owned(),
                instance_type: "InMageAzureV2".to_owned(),
                rpo_threshold_minutes: Some(60),
                recovery_point_history_minutes: Some(1440),
                app_consistent_frequency_minutes: Some(60),
                multi_vm_sync_status: None,
            },
            Policy {
                id: format!("{VAULT_PREFIX}/replicationPolicies/replication-policy-failback"),
                name: "replication-policy-failback".to_owned(),
                friendly_name: "replication-policy-failback".to_owned(),
                instance_type: "InMage".to_owned(),
                rpo_threshold_minutes: Some(15),
                recovery_point_history_minutes: Some(1440),
                app_consistent_frequency_minutes: Some(60),
                multi_vm_sync_status: None,
            },
        ],
    }
}

/// Three machines failed over and nothing done yet.
pub fn all_new() -> World {
    WorldBuilder::new()
        .machine(Machine::new("web01", ItemState::FailedOver))
        .machine(Machine::new("app01", ItemState::FailedOver).windows())
        .machine(Machine::new("db01", ItemState::FailedOver))
        .build()
}

/// Every machine already reprotected as declared.
pub fn all_done() -> World {
    WorldBuilder::new()
        .machine(Machine::new("web01", ItemState::ReprotectedAsDeclared))
        .machine(Machine::new("app01", ItemState::ReprotectedAsDeclared).windows())
        .build()
}

/// One reprotected as declared, one reprotected through another master target and
/// datastore, one still to do.
pub fn drift() -> World {
    WorldBuilder::new()
        .machine(Machine::new("web01", ItemState::ReprotectedAsDeclared))
        .machine(Machine::new("db01", ItemState::ReprotectedElsewhere))
        .machine(Machine::new("app01", ItemState::FailedOver).windows())
        .build()
}

/// Blocking errors, an acknowledged warning, a rule that could not be checked, and a
/// reprotect that cannot be planned (not failed over yet).
pub fn errors_acknowledged() -> World {
    let mut no_datastore = Machine::new("files01", ItemState::FailedOver).windows();
    no_datastore.datastore = None;
    WorldBuilder::new()
        .machine(Machine::new("web01", ItemState::FailedOver))
        .machine(no_datastore)
        .machine(Machine::new("mail01", ItemState::ForwardProtected).windows())
        .acknowledge(
            "web01",
            "FB128",
            "change window CHG-4711: web01 stays on during reprotect",
        )
        .finding(
            "FB118",
            Severity::Error,
            "reprotect.files01",
            "reprotect.files01 names no datastore",
            None,
            "add `datastore = \"...\"`: ASR needs it even when the disks already exist",
            None,
        )
        .finding(
            "FB128",
            Severity::Warning,
            "reprotect.web01",
            "the on-premises VM web01 is powered on",
            Some("power state poweredOn"),
            "power off web01 before reprotect",
            None,
        )
        .finding(
            "FB129",
            Severity::Error,
            "reprotect.mail01",
            "mail01 is not failed over: it still replicates to Azure",
            Some("protectionState Protected, instance type InMageAzureV2"),
            "fail mail01 over and commit the failover, or remove this reprotect",
            None,
        )
        .finding(
            "FB124",
            Severity::Error,
            "master_target.mt_linux",
            "the licence of the master target's host could not be read",
            None,
            "grant the discovery user Global.Licenses, or check the host's licence by hand",
            Some("the licence manager was not readable with the discovery user's privileges"),
        )
        .build()
}

/// A recovery plan of two machines (one agent still registering) reprotected as one
/// unit, after a master target fix, beside an independent machine.
pub fn recovery_plan_unit() -> World {
    WorldBuilder::new()
        .machine(Machine::new("erp-app", ItemState::FailedOver))
        .machine(Machine::new("erp-db", ItemState::FailedOverAgentPending))
        .machine(Machine::new("intranet", ItemState::FailedOver).windows())
        .recovery_plan("erp", &["erp_app", "erp_db"])
        .fix_disk_enable_uuid()
        .finding(
            "FB107",
            Severity::Advice,
            "master_target.mt_linux",
            "mt-linux-01 does not have disk.EnableUUID = TRUE; the plan sets it",
            Some("disk.EnableUUID not set"),
            "nothing: `ensure_disk_enable_uuid = true` lets failback fix it before reprotecting",
            None,
        )
        .finding(
            "FB117",
            Severity::Advice,
            "reprotect.erp_db",
            "the agent of erp-db has not registered with the configuration server yet",
            None,
            "apply waits for it (up to 20 minutes) before reprotecting",
            None,
        )
        .build()
}

/// A reprotect whose VM snapshots are removed first (destructive).
pub fn destructive_snapshots() -> World {
    let mut machine = Machine::new("web01", ItemState::FailedOver);
    machine.remove_snapshots = true;
    WorldBuilder::new()
        .machine(machine)
        .machine(Machine::new("web02", ItemState::FailedOver))
        .build()
}

/// A large estate: `n` machines, a tenth already done, a recovery plan per 50, some
/// agents pending, snapshot removals and warnings.
pub fn generated(n: usize) -> World {
    let mut builder = WorldBuilder::new().fix_disk_enable_uuid();
    let mut plan_members: Vec<String> = Vec::new();
    for i in 0..n {
        let name = format!("vm{i:05}");
        let state = match i % 10 {
            0 => ItemState::ReprotectedAsDeclared,
            3 => ItemState::FailedOverAgentPending,
            _ => ItemState::FailedOver,
        };
        let mut machine = Machine::new(&name, state);
        machine.linux = i % 3 != 0;
        machine.remove_snapshots = i % 25 == 7;
        builder = builder.machine(machine);
        if i % 4 == 1 {
            plan_members.push(name.clone());
            if plan_members.len() == 5 {
                let members: Vec<&str> = plan_members.iter().map(String::as_str).collect();
                builder = builder.recovery_plan(&format!("rp_{i:05}"), &members);
                plan_members.clear();
            }
        }
        if i % 20 == 5 {
            builder = builder.finding(
                "FB128",
                Severity::Warning,
                &format!("reprotect.{name}"),
                &format!("the on-premises VM {name} is powered on"),
                Some("power state poweredOn"),
                &format!("power off {name} before reprotect"),
                None,
            );
        }
    }
    builder.build()
}
