//! Large generated estates and the HCL that reprotects them, for the `plan` and
//! `apply` cases: the worlds the simulators serve at a size no hand-written example
//! reaches (thousands of protected VMs).
//!
//! The shape follows what a real ASR deployment of that size looks like: several
//! configuration servers, each with an Azure process server and a set of master
//! targets; a master target serves at most 60 disks (FB127), so VMs are grouped
//! [`VMS_PER_MASTER_TARGET`] to a master target of their OS family. Some groups hold
//! replication groups that are reprotected as recovery plans (FB120), and a few VMs
//! break rules on purpose (snapshots: FB102, powered on: FB128) so that the rules and
//! the renderers have findings to work on. Everything is deterministic: the same
//! [`EstateSpec`] always gives the same estate and text.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use failback_sim::estate::{
    AccessMode, Behaviour, ConfigurationServer, ConnectionState, Datastore, DatastoreKind, Disk,
    Estate, Faults, Host, Location, MasterTarget, Mount, OsType, Policy, PowerState, ProcessServer,
    ProtectedItem, RecoveryPlan, RetentionVolume, RunAsAccount, ScsiKind, SdrsBehavior,
    ToolsRunningStatus, User, VaultEstate, VcenterEstate, Vm,
};

/// VMs reprotected through one master target: 50 one-disk VMs plus the master
/// target's own 3 disks stay under FB127's 60.
pub const VMS_PER_MASTER_TARGET: usize = 50;

/// Every `RECOVERY_PLAN_EVERY`-th group of VMs is split into replication groups of
/// [`RECOVERY_PLAN_SIZE`], each reprotected as one recovery plan.
const RECOVERY_PLAN_EVERY: usize = 5;
const RECOVERY_PLAN_SIZE: usize = 10;

/// Every `SNAPSHOT_EVERY`-th VM keeps a snapshot (FB102, an error).
const SNAPSHOT_EVERY: usize = 97;
/// Every `POWERED_ON_EVERY`-th VM is still powered on (FB128, a warning).
const POWERED_ON_EVERY: usize = 89;

/// The vCenter user the generated estate grants what discovery needs.
pub const VCENTER_USER: &str = "failback@vsphere.local";
pub const VCENTER_PASSWORD: &str = "bench-password";

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EstateSpec {
    /// Protected VMs (master targets come on top).
    pub vms: usize,
    /// Configuration servers (fabrics); groups are dealt round-robin.
    pub configuration_servers: usize,
    /// Simulated seconds a reprotect job takes.
    pub reprotect_job_s: f64,
    /// How much faster than real time the ASR simulator's clock runs.
    pub time_scale: f64,
    /// Whether to plant the rule violations.
    pub violations: bool,
    /// Whether some groups are replication groups reprotected as recovery plans.
    pub recovery_plans: bool,
}

impl EstateSpec {
    /// An estate of `vms` protected VMs with violations, spread over four
    /// configuration servers.
    pub fn with_vms(vms: usize) -> EstateSpec {
        EstateSpec {
            vms,
            configuration_servers: 4,
            reprotect_job_s: 3.0,
            time_scale: 1.0,
            violations: true,
            recovery_plans: true,
        }
    }
}

/// One group of VMs: the master target they are reprotected through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// `g007`: the HCL block label of its master target and reprotects.
    pub label: String,
    pub fabric: String,
    pub os: OsType,
    /// The master target VM's name.
    pub master_target_vm: String,
    pub process_server: String,
    pub datastore: String,
    pub retention_volume: String,
    /// The protected VMs' names.
    pub vms: Vec<String>,
    /// Recovery plans of this group: name → member VMs.
    pub recovery_plans: BTreeMap<String, Vec<String>>,
}

/// A generated estate with the layout the HCL needs.
#[derive(Debug, Clone)]
pub struct Generated {
    pub estate: Estate,
    pub groups: Vec<Group>,
    pub fabrics: Vec<String>,
}

/// Where the simulators serve, for the generated HCL.
#[derive(Debug, Clone)]
pub struct Endpoints {
    pub vcenter_url: String,
    pub vcenter_ca_file: PathBuf,
    pub vault_endpoint: String,
    pub vault_token: String,
}

/// The protected item's name of a VM.
pub fn item_name(vm: &str) -> String {
    format!("{vm}-item")
}

fn host_name(index: usize) -> String {
    format!("esx{index:02}.bench.local")
}

/// Generates the estate of `spec`.
pub fn generate(spec: &EstateSpec) -> Generated {
    let fabric_count = spec.configuration_servers.max(1);
    let fabrics: Vec<String> = (1..=fabric_count).map(|i| format!("cs{i:02}")).collect();
    // Two hosts and two VMFS datastores per configuration server, mounted on all hosts
    // of its cluster.
    let mut hosts = Vec::new();
    let mut datastores = Vec::new();
    for (index, fabric) in fabrics.iter().enumerate() {
        let cluster = format!("Cluster-{fabric}");
        let host_a = host_name(index * 2 + 1);
        let host_b = host_name(index * 2 + 2);
        for host in [&host_a, &host_b] {
            hosts.push(Host {
                name: host.clone(),
                cluster: Some(cluster.clone()),
                version: "7.0.3".to_owned(),
                license_edition: "esx.enterprisePlus.cpuPackage".to_owned(),
                connection_state: ConnectionState::Connected,
            });
        }
        for tier in ["gold", "silver"] {
            datastores.push(Datastore {
                name: format!("vmfs-{tier}-{fabric}"),
                kind: DatastoreKind::Vmfs,
                capacity_gb: 65_536,
                free_gb: 40_000,
                storage_pod: None,
                mounts: [&host_a, &host_b]
                    .iter()
                    .map(|host| Mount {
                        host: (*host).clone(),
                        access_mode: AccessMode::ReadWrite,
                    })
                    .collect(),
            });
        }
    }

    let group_count = spec.vms.div_ceil(VMS_PER_MASTER_TARGET);
    let mut groups = Vec::with_capacity(group_count);
    let mut vms = Vec::with_capacity(spec.vms + group_count);
    let mut items = Vec::with_capacity(spec.vms);
    let mut recovery_plans = Vec::new();
    let mut master_targets: BTreeMap<&str, Vec<MasterTarget>> = BTreeMap::new();
    let mut disk_serial = 0u64;
    let mut next_uuid = || {
        disk_serial += 1;
        format!(
            "6000C29a-{:04x}-{:04x}-0000-{:012x}",
            disk_serial >> 16,
            disk_serial & 0xffff,
            disk_serial
        )
    };
    for g in 0..group_count {
        let fabric_index = g % fabric_count;
        let fabric = &fabrics[fabric_index];
        let os = if g % 4 == 0 {
            OsType::Windows
        } else {
            OsType::Linux
        };
        let label = format!("g{g:03}");
        let tier = if g % 2 == 0 { "gold" } else { "silver" };
        let datastore = format!("vmfs-{tier}-{fabric}");
        let host = host_name(fabric_index * 2 + 1 + g % 2);
        let master_target_vm = format!("mt-{label}");
        let retention_volume = match os {
            OsType::Windows => "R:".to_owned(),
            OsType::Linux => "/mnt/retention".to_owned(),
        };
        let (guest_id, os_name) = match os {
            OsType::Windows => ("windows2019srv_64Guest", "Windows Server 2019"),
            OsType::Linux => ("rhel8_64Guest", "RHEL 8"),
        };
        let mut extra_config = BTreeMap::new();
        extra_config.insert("disk.EnableUUID".to_owned(), "TRUE".to_owned());
        vms.push(Vm {
            name: master_target_vm.clone(),
            guest_id: guest_id.to_owned(),
            host: host.clone(),
            datastore: datastore.clone(),
            power_state: PowerState::PoweredOn,
            scsi: ScsiKind::Lsilogic,
            disks: (0..3)
                .map(|_| Disk {
                    size_gb: 100,
                    datastore: Some(datastore.clone()),
                    uuid: Some(next_uuid()),
                })
                .collect(),
            bios_uuid: None,
            extra_config,
            snapshots: Vec::new(),
            tools_running_status: ToolsRunningStatus::GuestToolsRunning,
            sdrs_behavior: SdrsBehavior::Default,
        });
        master_targets
            .entry(fabric)
            .or_default()
            .push(MasterTarget {
                id: format!("{master_target_vm}-id"),
                name: master_target_vm.clone(),
                os_type: os,
                vm: master_target_vm.clone(),
                heartbeat_age_s: 60,
                disk_count: 3,
                retention_volumes: vec![RetentionVolume {
                    name: retention_volume.clone(),
                    capacity_gb: 2048,
                    free_gb: 1800,
                    threshold_percent: 80,
                    file_system: Some(
                        match os {
                            OsType::Windows => "NTFS",
                            OsType::Linux => "ext4",
                        }
                        .to_owned(),
                    ),
                    is_cache_volume: false,
                    locked: false,
                    in_use_for: None,
                }],
                datastores: vec![
                    format!("vmfs-gold-{fabric}"),
                    format!("vmfs-silver-{fabric}"),
                ],
            });

        let first = g * VMS_PER_MASTER_TARGET;
        let last = (first + VMS_PER_MASTER_TARGET).min(spec.vms);
        let names: Vec<String> = (first..last).map(|i| format!("vm{:05}", i + 1)).collect();
        let mut group_plans = BTreeMap::new();
        if spec.recovery_plans && g % RECOVERY_PLAN_EVERY == RECOVERY_PLAN_EVERY - 1 {
            for (chunk_index, chunk) in names.chunks(RECOVERY_PLAN_SIZE).enumerate() {
                group_plans.insert(format!("rp-{label}-{chunk_index}"), chunk.to_vec());
            }
        }
        let group_of = |vm: &str| {
            group_plans
                .iter()
                .find(|(_, members)| members.iter().any(|m| m == vm))
                .map(|(plan, _)| plan.clone())
        };
        for (offset, name) in names.iter().enumerate() {
            let index = first + offset + 1;
            let snapshot = spec.violations && index.is_multiple_of(SNAPSHOT_EVERY);
            let powered_on = spec.violations && index.is_multiple_of(POWERED_ON_EVERY);
            vms.push(Vm {
                name: name.clone(),
                guest_id: guest_id.to_owned(),
                host: host.clone(),
                datastore: datastore.clone(),
                power_state: if powered_on {
                    PowerState::PoweredOn
                } else {
                    PowerState::PoweredOff
                },
                scsi: ScsiKind::Lsilogic,
                disks: vec![Disk {
                    size_gb: 80,
                    datastore: Some(datastore.clone()),
                    uuid: Some(next_uuid()),
                }],
                bios_uuid: None,
                extra_config: BTreeMap::new(),
                snapshots: if snapshot {
                    vec!["before-patching".to_owned()]
                } else {
                    Vec::new()
                },
                tools_running_status: ToolsRunningStatus::GuestToolsRunning,
                sdrs_behavior: SdrsBehavior::Default,
            });
            items.push(ProtectedItem {
                name: item_name(name),
                friendly_name: name.clone(),
                fabric: fabric.clone(),
                vm: Some(name.clone()),
                os_type: os,
                os_name: Some(os_name.to_owned()),
                machine_type: "VMware".to_owned(),
                disk_count: 1,
                static_ip: false,
                protection_state: "UnplannedFailoverCommitted".to_owned(),
                active_location: Some("Recovery".to_owned()),
                allowed_operations: vec![
                    "ReverseReplicate".to_owned(),
                    "DisableProtection".to_owned(),
                ],
                replication_group: group_of(name),
                agent_registered_after_s: 0,
                health_errors: Vec::new(),
                reverse: None,
            });
        }
        for (plan, members) in &group_plans {
            recovery_plans.push(RecoveryPlan {
                name: plan.clone(),
                members: members.iter().map(|vm| item_name(vm)).collect(),
            });
        }
        groups.push(Group {
            label,
            fabric: fabric.clone(),
            os,
            master_target_vm,
            process_server: format!("ps-azure-{fabric}"),
            datastore,
            retention_volume,
            vms: names,
            recovery_plans: group_plans,
        });
    }

    let configuration_servers = fabrics
        .iter()
        .enumerate()
        .map(|(index, fabric)| ConfigurationServer {
            fabric: fabric.clone(),
            friendly_name: format!("{fabric}.bench.local"),
            ip_address: Some(format!("10.0.{}.5", index + 1)),
            // The simulated vCenter is reached at 127.0.0.1; FB125 compares the two.
            vcenters: vec!["127.0.0.1".to_owned()],
            heartbeat_age_s: 30,
            process_servers: vec![ProcessServer {
                id: format!("ps-azure-{fabric}-id"),
                name: format!("ps-azure-{fabric}"),
                location: Location::Azure,
                heartbeat_age_s: 40,
                health_errors: Vec::new(),
            }],
            master_targets: master_targets.remove(fabric.as_str()).unwrap_or_default(),
            run_as_accounts: vec![RunAsAccount {
                id: "1".to_owned(),
                name: "vcenter-admin".to_owned(),
            }],
        })
        .collect();

    let policy = |name: &str, instance_type: &str| Policy {
        name: name.to_owned(),
        instance_type: instance_type.to_owned(),
        rpo_threshold_minutes: 15,
        recovery_point_history_minutes: 1440,
        app_consistent_frequency_minutes: 60,
    };
    let estate = Estate {
        vcenter: VcenterEstate {
            datacenter: "DC-Bench".to_owned(),
            version: "7.0.3".to_owned(),
            users: vec![User {
                name: VCENTER_USER.to_owned(),
                password: VCENTER_PASSWORD.to_owned(),
                privileges: [
                    "System.View",
                    "System.Read",
                    "VirtualMachine.Config.AdvancedConfig",
                    "VirtualMachine.State.RemoveSnapshot",
                    "Datastore.Browse",
                ]
                .iter()
                .map(|p| (*p).to_owned())
                .collect(),
                hide_types: Vec::new(),
                vm_privileges: BTreeMap::new(),
            }],
            hosts,
            storage_pods: Vec::new(),
            datastores,
            vms,
        },
        vault: VaultEstate {
            subscription_id: "00000000-0000-0000-0000-00000000be9c".to_owned(),
            resource_group: "rg-bench".to_owned(),
            name: "rsv-bench".to_owned(),
            configuration_servers,
            policies: vec![
                policy("failback-policy", "InMage"),
                policy("replication-policy", "InMageAzureV2"),
            ],
            protected_items: items,
            recovery_plans,
            behaviour: Behaviour {
                reprotect_job_s: spec.reprotect_job_s,
                recovery_plan_job_s: spec.reprotect_job_s,
                time_scale: spec.time_scale,
                faults: Faults::default(),
            },
        },
    };
    Generated {
        estate,
        groups,
        fabrics,
    }
}

/// Quotes a string for HCL.
fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '$' => out.push_str("$$"),
            '%' => out.push_str("%%"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The configuration that reprotects every VM of `generated` against `endpoints`, as
/// `(file name, text)`: `main.hcl` (providers, servers, master targets and the
/// reprotects, one `for_each` block per master target over a variable map) and
/// `variables.hcl` (the map of VMs per group).
pub fn config_files(generated: &Generated, endpoints: &Endpoints) -> Vec<(String, String)> {
    let vault = &generated.estate.vault;
    let mut main = String::new();
    // Writing into a String cannot fail.
    let _ = writeln!(
        main,
        "# Generated by failback-bench: {} protected VMs.\n",
        generated.groups.iter().map(|g| g.vms.len()).sum::<usize>()
    );
    let _ = writeln!(
        main,
        "failback {{\n  parallelism  = 50\n  connectivity = \"vpn\"\n}}\n\n\
         vcenter \"onprem\" {{\n  url      = {}\n  username = {}\n  password = var.vsphere_password\n  ca_file  = {}\n}}\n\n\
         vault \"dr\" {{\n  subscription_id = {}\n  resource_group  = {}\n  name            = {}\n  endpoint        = {}\n  access_token    = var.arm_token\n}}\n\n\
         failback_policy \"default\" {{\n  name = \"failback-policy\"\n}}\n",
        quoted(&endpoints.vcenter_url),
        quoted(VCENTER_USER),
        quoted(&endpoints.vcenter_ca_file.display().to_string()),
        quoted(&vault.subscription_id),
        quoted(&vault.resource_group),
        quoted(&vault.name),
        quoted(&endpoints.vault_endpoint),
    );
    for fabric in &generated.fabrics {
        let _ = writeln!(
            main,
            "configuration_server {fabric:?} {{\n  vault   = vault.dr\n  fabric  = {fabric:?}\n  vcenter = vcenter.onprem\n}}\n\n\
             process_server \"azure_{fabric}\" {{\n  configuration_server = configuration_server.{fabric}\n  name                 = \"ps-azure-{fabric}\"\n  location             = \"azure\"\n}}\n"
        );
    }
    let mut variables = String::new();
    let _ = writeln!(
        variables,
        "variable \"vsphere_password\" {{\n  type      = string\n  default   = {}\n  sensitive = true\n}}\n\n\
         variable \"arm_token\" {{\n  type      = string\n  default   = {}\n  sensitive = true\n}}\n",
        quoted(VCENTER_PASSWORD),
        quoted(&endpoints.vault_token),
    );
    for group in &generated.groups {
        let label = &group.label;
        let os = match group.os {
            OsType::Windows => "windows",
            OsType::Linux => "linux",
        };
        let _ = writeln!(
            main,
            "master_target {label:?} {{\n  configuration_server = configuration_server.{}\n  vm                   = {:?}\n  os                   = {os:?}\n  retention_volume     = {}\n  datastores           = [\"vmfs-gold-{}\", \"vmfs-silver-{}\"]\n}}\n\n\
             reprotect {label:?} {{\n  for_each = var.{label}\n\n  protected_item = \"${{each.key}}-item\"\n  vm             = each.key\n  process_server = process_server.azure_{}\n  master_target  = master_target.{label}\n  datastore      = each.value\n  policy         = failback_policy.default\n}}\n",
            group.fabric,
            group.master_target_vm,
            quoted(&group.retention_volume),
            group.fabric,
            group.fabric,
            group.fabric,
        );
        for (plan, members) in &group.recovery_plans {
            let list: Vec<String> = members
                .iter()
                .map(|vm| format!("reprotect.{label}[{vm:?}]"))
                .collect();
            let _ = writeln!(
                main,
                "recovery_plan {:?} {{\n  name           = {plan:?}\n  members        = [{}]\n  master_target  = master_target.{label}\n  process_server = process_server.azure_{}\n  datastore      = {:?}\n}}\n",
                plan.replace('-', "_"),
                list.join(", "),
                group.fabric,
                group.datastore,
            );
        }
        let _ = writeln!(
            variables,
            "variable {label:?} {{\n  description = \"VMs reprotected through {}: name => datastore.\"\n  type        = map(string)\n  default = {{",
            group.master_target_vm
        );
        for vm in &group.vms {
            let _ = writeln!(variables, "    {vm} = {:?}", group.datastore);
        }
        let _ = writeln!(variables, "  }}\n}}\n");
    }
    vec![
        ("main.hcl".to_owned(), main),
        ("variables.hcl".to_owned(), variables),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_estate_is_consistent_and_sized() {
        let generated = generate(&EstateSpec::with_vms(230));
        let vault = &generated.estate.vault;
        assert_eq!(vault.protected_items.len(), 230);
        assert_eq!(generated.groups.len(), 5);
        // Protected VMs plus one master target per group.
        assert_eq!(generated.estate.vcenter.vms.len(), 235);
        assert_eq!(vault.configuration_servers.len(), 4);
        let windows = generated.groups.iter().filter(|g| g.os == OsType::Windows);
        assert!(windows.count() >= 1);
        // Group g004 carries recovery plans of ten VMs each.
        assert_eq!(vault.recovery_plans.len(), 3);
        assert!(vault.recovery_plans.iter().all(|p| p.members.len() <= 10));
        failback_sim::asr::consistency::check_vault(vault)
            .unwrap_or_else(|problem| panic!("{}: {}", problem.json_path, problem.message));
        let snapshots = generated
            .estate
            .vcenter
            .vms
            .iter()
            .filter(|vm| !vm.snapshots.is_empty())
            .count();
        assert_eq!(snapshots, 2);
    }

    #[test]
    fn generation_is_deterministic() {
        let spec = EstateSpec::with_vms(120);
        let endpoints = Endpoints {
            vcenter_url: "https://127.0.0.1:1/sdk".to_owned(),
            vcenter_ca_file: PathBuf::from("/tmp/ca.pem"),
            vault_endpoint: "http://127.0.0.1:2".to_owned(),
            vault_token: "t".to_owned(),
        };
        let a = config_files(&generate(&spec), &endpoints);
        let b = config_files(&generate(&spec), &endpoints);
        assert_eq!(a, b);
        assert_eq!(generate(&spec).estate, generate(&spec).estate);
    }

    #[test]
    fn hcl_strings_are_escaped() {
        assert_eq!(quoted("a\"b${x}"), "\"a\\\"b$${x}\"");
    }
}
