//! A small, healthy world built by hand for the tests of resolution and of the rules:
//! one vCenter, one vault with one configuration server (`cs01`), a Windows and a Linux
//! master target, one process server in Azure, and two reprotects (`web01` on the
//! Windows master target, `db01` on the Linux one) that every rule accepts. Tests break
//! one thing at a time through the `_mut` helpers, so each reads as the one fact it is
//! about.
//!
//! `plan::worlds` builds whole plan scenarios instead (HCL text with spans into it,
//! assessments, prior state) for the plan, render and CLI tests; the two stay apart
//! because a rule test wants one broken fact in a minimal world, and a render snapshot
//! wants a stable, complete one.

// Shared by the tests of resolution and of every rule module; not each uses every helper.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::{DateTime, Duration, TimeZone, Utc};

use crate::config::{
    Acknowledgement, Address, Config, ConfigurationServer, Connectivity, Declared, FailbackPolicy,
    MasterTarget, OsFamily, ProcessServer, ProcessServerLocation, RecoveryPlan, Reference,
    Reprotect, Settings, Span, Vault, Vcenter,
};
use crate::observe::vault::{
    self, DiscoveredVcenter, Fabric, MasterTargetDatastore, Policy, ProtectedItem, RetentionVolume,
    RunAsAccount,
};
use crate::observe::vcenter::{About, Datastore, Host, HostMount, VirtualDisk, VirtualMachine};
use crate::observe::{Observed, VaultInventory, VcenterInventory};

pub(crate) const GB: u64 = 1024 * 1024 * 1024;

/// The configuration and what discovery saw, side by side.
#[derive(Debug, Clone)]
pub(crate) struct World {
    pub config: Config,
    pub observed: Observed,
}

/// A declaration in `main.hcl` starting at `line`, its attributes on the lines after.
pub(crate) fn declared(line: usize, attributes: &[&str]) -> Declared {
    let span_at = |line: usize| Span {
        file: PathBuf::from("main.hcl"),
        start: line * 100,
        end: line * 100 + 40,
        line,
        column: 1,
    };
    Declared {
        span: span_at(line),
        attribute_spans: attributes
            .iter()
            .enumerate()
            .map(|(offset, name)| ((*name).to_owned(), span_at(line + 1 + offset)))
            .collect(),
        ..Declared::default()
    }
}

pub(crate) fn reference(kind: &str, name: &str, line: usize) -> Reference {
    Reference {
        target: Address::new(kind, name),
        span: Span {
            file: PathBuf::from("main.hcl"),
            start: line * 100 + 4,
            end: line * 100 + 30,
            line,
            column: 5,
        },
    }
}

pub(crate) fn acknowledgement(rule: &str, reason: &str) -> Acknowledgement {
    Acknowledgement {
        rule: rule.to_owned(),
        reason: reason.to_owned(),
        span: Span::default(),
    }
}

/// The moment of discovery; heartbeats are placed relative to it.
pub(crate) fn observed_at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0)
        .single()
        .unwrap_or_default()
}

pub(crate) fn seconds_ago(seconds: i64) -> Option<DateTime<Utc>> {
    Some(observed_at() - Duration::seconds(seconds))
}

fn disk(label: &str, gb: u64, uuid: &str) -> VirtualDisk {
    VirtualDisk {
        label: label.to_owned(),
        capacity_bytes: gb * GB,
        datastore: Some("datastore-1".to_owned()),
        uuid: Some(uuid.to_owned()),
    }
}

fn vm(id: &str, name: &str, guest_id: &str, disks: Vec<VirtualDisk>) -> VirtualMachine {
    VirtualMachine {
        id: id.to_owned(),
        name: name.to_owned(),
        guest_id: guest_id.to_owned(),
        host: Some("host-1".to_owned()),
        power_state: "poweredOff".to_owned(),
        bios_uuid: format!("4210-{name}"),
        scsi_controllers: vec!["VirtualLsiLogicSASController".to_owned()],
        disks,
        extra_config: BTreeMap::new(),
        snapshots: Vec::new(),
        tools_running_status: "guestToolsRunning".to_owned(),
        datastores: vec!["datastore-1".to_owned()],
    }
}

fn master_target_vm(id: &str, name: &str, guest_id: &str) -> VirtualMachine {
    let mut machine = vm(
        id,
        name,
        guest_id,
        vec![
            disk("Hard disk 1", 80, &format!("6000C2-{name}-0")),
            disk("Hard disk 2", 500, &format!("6000C2-{name}-1")),
        ],
    );
    machine.power_state = "poweredOn".to_owned();
    machine
        .extra_config
        .insert("disk.EnableUUID".to_owned(), "TRUE".to_owned());
    machine
}

fn fabric_master_target(name: &str, os_type: &str, retention: &str) -> vault::MasterTarget {
    vault::MasterTarget {
        id: format!("{name}-id"),
        name: name.to_owned(),
        os_type: os_type.to_owned(),
        ip_address: Some("10.0.0.20".to_owned()),
        last_heartbeat: seconds_ago(60),
        disk_count: Some(2),
        retention_volumes: vec![RetentionVolume {
            volume_name: retention.to_owned(),
            capacity_bytes: Some(500 * GB),
            free_space_bytes: Some(400 * GB),
            threshold_percentage: Some(80),
            file_system: Some(if os_type == "Linux" { "ext4" } else { "NTFS" }.to_owned()),
            is_cache_volume: Some(false),
            locked: Some(false),
            in_use_for: None,
        }],
        datastores: vec![MasterTargetDatastore {
            symbolic_name: "vmfs-gold-01".to_owned(),
            uuid: Some("5f1e-gold".to_owned()),
            kind: Some("VMFS".to_owned()),
        }],
        validation_errors: Vec::new(),
        health_errors: Vec::new(),
    }
}

fn protected_item(name: &str, friendly: &str, os_type: &str, disks: u32) -> ProtectedItem {
    ProtectedItem {
        id: format!(
            "/subscriptions/sub/resourceGroups/rg-dr/providers/Microsoft.RecoveryServices/\
             vaults/contoso-vault/replicationFabrics/cs01/replicationProtectionContainers/\
             cloud_1/replicationProtectedItems/{name}"
        ),
        name: name.to_owned(),
        friendly_name: friendly.to_owned(),
        fabric: "cs01".to_owned(),
        protection_container: "cloud_1".to_owned(),
        protection_state: "UnplannedFailoverCommitted".to_owned(),
        protection_state_description: Some("Failover committed".to_owned()),
        active_location: Some("Recovery".to_owned()),
        allowed_operations: vec![
            "ReverseReplicate".to_owned(),
            "DisableProtection".to_owned(),
        ],
        replication_health: Some("Normal".to_owned()),
        health_errors: Vec::new(),
        policy_id: Some("replication-policy-id".to_owned()),
        instance_type: Some("InMageAzureV2".to_owned()),
        os_type: Some(os_type.to_owned()),
        os_name: None,
        machine_type: Some("VMware".to_owned()),
        disk_count: Some(disks),
        vm_name: Some(friendly.to_owned()),
        replication_group: None,
        ip_address: Some("10.1.0.4".to_owned()),
        agent_last_heartbeat: seconds_ago(90),
        reverse: None,
        static_ip: Some(false),
    }
}

fn master_target_block(
    name: &str,
    vm: &str,
    os: OsFamily,
    retention: &str,
    line: usize,
) -> MasterTarget {
    MasterTarget {
        address: Address::new("master_target", name),
        declared: declared(
            line,
            &[
                "configuration_server",
                "vm",
                "os",
                "retention_volume",
                "datastores",
                "ensure_disk_enable_uuid",
                "remove_snapshots",
            ],
        ),
        configuration_server: reference("configuration_server", "cs01", line + 1),
        vm: vm.to_owned(),
        server_name: vm.to_owned(),
        os,
        retention_volume: retention.to_owned(),
        datastores: vec!["vmfs-gold-01".to_owned()],
        ensure_disk_enable_uuid: false,
        remove_snapshots: false,
        acknowledgements: Vec::new(),
    }
}

fn reprotect_block(name: &str, item: &str, master_target: &str, line: usize) -> Reprotect {
    Reprotect {
        address: Address::new("reprotect", name),
        declared: declared(
            line,
            &[
                "protected_item",
                "process_server",
                "master_target",
                "datastore",
                "policy",
                "remove_snapshots",
            ],
        ),
        protected_item: item.to_owned(),
        vm: None,
        process_server: reference("process_server", "ps_azure", line + 2),
        master_target: reference("master_target", master_target, line + 3),
        datastore: Some("vmfs-gold-01".to_owned()),
        retention_volume: None,
        policy: Some(reference("failback_policy", "default", line + 5)),
        run_as_account: None,
        remove_snapshots: false,
        acknowledgements: Vec::new(),
    }
}

impl World {
    /// Every rule holds in this world.
    pub(crate) fn healthy() -> World {
        let config = Config {
            settings: Settings {
                connectivity: Some(Connectivity::Vpn),
                ..Settings::default()
            },
            vcenters: vec![Vcenter {
                address: Address::new("vcenter", "onprem"),
                declared: declared(1, &["url"]),
                url: Some("https://vcsa.contoso.local/sdk".to_owned()),
                username: Some("asr@vsphere.local".to_owned()),
                password: None,
                thumbprint: None,
                ca_file: None,
                insecure: false,
            }],
            vaults: vec![Vault {
                address: Address::new("vault", "dr"),
                declared: declared(5, &["subscription_id", "resource_group", "name"]),
                subscription_id: "00000000-0000-0000-0000-000000000001".to_owned(),
                resource_group: "rg-dr".to_owned(),
                vault_name: "contoso-vault".to_owned(),
                endpoint: None,
                access_token: None,
            }],
            configuration_servers: vec![ConfigurationServer {
                address: Address::new("configuration_server", "cs01"),
                declared: declared(10, &["vault", "fabric", "vcenter"]),
                vault: reference("vault", "dr", 11),
                fabric: "cs01".to_owned(),
                vcenter: reference("vcenter", "onprem", 13),
                acknowledgements: Vec::new(),
            }],
            process_servers: vec![ProcessServer {
                address: Address::new("process_server", "ps_azure"),
                declared: declared(15, &["configuration_server", "name", "location"]),
                configuration_server: reference("configuration_server", "cs01", 16),
                server_name: "ps-azure-01".to_owned(),
                location: ProcessServerLocation::Azure,
                acknowledgements: Vec::new(),
            }],
            master_targets: vec![
                master_target_block("mt_win", "mt-win-01", OsFamily::Windows, "R:", 20),
                master_target_block("mt_lnx", "mt-lnx-01", OsFamily::Linux, "/mnt/retention", 30),
            ],
            failback_policies: vec![FailbackPolicy {
                address: Address::new("failback_policy", "default"),
                declared: declared(
                    40,
                    &[
                        "name",
                        "rpo_threshold_minutes",
                        "recovery_point_retention_hours",
                        "app_consistent_frequency_minutes",
                    ],
                ),
                policy_name: "failback-policy".to_owned(),
                rpo_threshold_minutes: 15,
                recovery_point_retention_hours: 24,
                app_consistent_frequency_minutes: 60,
            }],
            reprotects: vec![
                reprotect_block("web01", "web01", "mt_win", 50),
                reprotect_block("db01", "db01-item", "mt_lnx", 60),
            ],
            recovery_plans: Vec::new(),
            outputs: Vec::new(),
            ..Config::default()
        };

        let vcenter = VcenterInventory {
            about: About {
                name: "VMware vCenter Server".to_owned(),
                full_name: "VMware vCenter Server 7.0.3".to_owned(),
                version: "7.0.3".to_owned(),
                api_type: "VirtualCenter".to_owned(),
                instance_uuid: "vc-uuid".to_owned(),
            },
            session_user: "VSPHERE.LOCAL\\asr".to_owned(),
            hosts: vec![Host {
                id: "host-1".to_owned(),
                name: "esx01.lab.local".to_owned(),
                cluster: Some("Cluster-A".to_owned()),
                version: "7.0.3".to_owned(),
                connection_state: "connected".to_owned(),
                license_edition: Some("esx.enterprisePlus.cpuPackage".to_owned()),
                datastores: vec!["datastore-1".to_owned(), "datastore-2".to_owned()],
            }],
            datastores: vec![
                Datastore {
                    id: "datastore-1".to_owned(),
                    name: "vmfs-gold-01".to_owned(),
                    kind: "VMFS".to_owned(),
                    capacity_bytes: 4096 * GB,
                    free_bytes: 1500 * GB,
                    storage_pod: None,
                    mounts: vec![HostMount {
                        host: "host-1".to_owned(),
                        access_mode: "readWrite".to_owned(),
                        mounted: true,
                        accessible: true,
                    }],
                },
                Datastore {
                    id: "datastore-2".to_owned(),
                    name: "nfs-archive".to_owned(),
                    kind: "NFS".to_owned(),
                    capacity_bytes: 2048 * GB,
                    free_bytes: 1000 * GB,
                    storage_pod: None,
                    mounts: vec![HostMount {
                        host: "host-1".to_owned(),
                        access_mode: "readWrite".to_owned(),
                        mounted: true,
                        accessible: true,
                    }],
                },
            ],
            storage_pods: Vec::new(),
            vms: vec![
                vm(
                    "vm-1",
                    "web01",
                    "windows2019srv_64Guest",
                    vec![disk("Hard disk 1", 60, "6000C2-web01-0")],
                ),
                vm(
                    "vm-2",
                    "db01",
                    "rhel8_64Guest",
                    vec![
                        disk("Hard disk 1", 40, "6000C2-db01-0"),
                        disk("Hard disk 2", 200, "6000C2-db01-1"),
                    ],
                ),
                master_target_vm("vm-10", "mt-win-01", "windows2019srv_64Guest"),
                master_target_vm("vm-11", "mt-lnx-01", "rhel8_64Guest"),
            ],
            privileges: ["datastore-1", "datastore-2"]
                .iter()
                .map(|id| {
                    (
                        (*id).to_owned(),
                        [("System.Read", true), ("Datastore.Browse", true)]
                            .iter()
                            .map(|(privilege, granted)| ((*privilege).to_owned(), *granted))
                            .collect(),
                    )
                })
                .collect(),
        };

        let vault = VaultInventory {
            subscription_id: "00000000-0000-0000-0000-000000000001".to_owned(),
            resource_group: "rg-dr".to_owned(),
            name: "contoso-vault".to_owned(),
            fabrics: vec![Fabric {
                id: "cs01-id".to_owned(),
                name: "cs01".to_owned(),
                friendly_name: "cs01.contoso.local".to_owned(),
                ip_address: Some("10.0.0.5".to_owned()),
                last_heartbeat: seconds_ago(30),
                process_servers: vec![vault::ProcessServer {
                    id: "ps-azure-01-id".to_owned(),
                    friendly_name: "ps-azure-01".to_owned(),
                    ip_address: Some("10.1.0.10".to_owned()),
                    last_heartbeat: seconds_ago(40),
                    health: Some("Normal".to_owned()),
                    health_errors: Vec::new(),
                }],
                master_targets: vec![
                    fabric_master_target("mt-win-01", "Windows", "R:"),
                    fabric_master_target("mt-lnx-01", "Linux", "/mnt/retention"),
                ],
                run_as_accounts: vec![RunAsAccount {
                    account_id: "1".to_owned(),
                    account_name: "vcenter-admin".to_owned(),
                }],
                vcenters: vec![DiscoveredVcenter {
                    id: "vcenter-1".to_owned(),
                    friendly_name: "vcsa.contoso.local".to_owned(),
                    ip_address: Some("10.0.0.10".to_owned()),
                    discovery_status: Some("Connected".to_owned()),
                    last_heartbeat: seconds_ago(120),
                }],
                protection_containers: vec!["cloud_1".to_owned()],
                health_errors: Vec::new(),
            }],
            protected_items: vec![
                protected_item("web01-item", "web01", "Windows", 1),
                protected_item("db01-item", "db01", "Linux", 2),
            ],
            recovery_plans: Vec::new(),
            policies: vec![
                Policy {
                    id: "replication-policy-id".to_owned(),
                    name: "replication-policy".to_owned(),
                    friendly_name: "replication-policy".to_owned(),
                    instance_type: "InMageAzureV2".to_owned(),
                    rpo_threshold_minutes: Some(15),
                    recovery_point_history_minutes: Some(1440),
                    app_consistent_frequency_minutes: Some(60),
                    multi_vm_sync_status: Some("Enable".to_owned()),
                },
                Policy {
                    id: "failback-policy-id".to_owned(),
                    name: "failback-policy".to_owned(),
                    friendly_name: "failback-policy".to_owned(),
                    instance_type: "InMage".to_owned(),
                    rpo_threshold_minutes: Some(15),
                    recovery_point_history_minutes: Some(1440),
                    app_consistent_frequency_minutes: Some(60),
                    multi_vm_sync_status: Some("Enable".to_owned()),
                },
            ],
        };

        let mut observed = Observed {
            observed_at: Some(observed_at()),
            ..Observed::default()
        };
        observed
            .vcenters
            .insert("vcenter.onprem".to_owned(), vcenter);
        observed.vaults.insert("vault.dr".to_owned(), vault);
        World { config, observed }
    }

    pub(crate) fn vault_mut(&mut self) -> &mut VaultInventory {
        self.observed
            .vaults
            .get_mut("vault.dr")
            .expect("the fixture has vault.dr")
    }

    pub(crate) fn vcenter_mut(&mut self) -> &mut VcenterInventory {
        self.observed
            .vcenters
            .get_mut("vcenter.onprem")
            .expect("the fixture has vcenter.onprem")
    }

    pub(crate) fn fabric_mut(&mut self) -> &mut Fabric {
        self.vault_mut()
            .fabrics
            .first_mut()
            .expect("the fixture has fabric cs01")
    }

    pub(crate) fn item_mut(&mut self, name: &str) -> &mut ProtectedItem {
        self.vault_mut()
            .protected_items
            .iter_mut()
            .find(|item| item.name == name)
            .expect("the fixture has this protected item")
    }

    pub(crate) fn vm_mut(&mut self, name: &str) -> &mut VirtualMachine {
        self.vcenter_mut()
            .vms
            .iter_mut()
            .find(|vm| vm.name == name)
            .expect("the fixture has this VM")
    }

    pub(crate) fn datastore_mut(&mut self, name: &str) -> &mut Datastore {
        self.vcenter_mut()
            .datastores
            .iter_mut()
            .find(|ds| ds.name == name)
            .expect("the fixture has this datastore")
    }

    pub(crate) fn host_mut(&mut self) -> &mut Host {
        self.vcenter_mut()
            .hosts
            .first_mut()
            .expect("the fixture has host-1")
    }

    pub(crate) fn fabric_master_target_mut(&mut self, name: &str) -> &mut vault::MasterTarget {
        self.fabric_mut()
            .master_targets
            .iter_mut()
            .find(|mt| mt.name == name)
            .expect("the fixture has this master target in cs01")
    }

    pub(crate) fn process_server_mut(&mut self) -> &mut vault::ProcessServer {
        self.fabric_mut()
            .process_servers
            .first_mut()
            .expect("the fixture has ps-azure-01")
    }

    pub(crate) fn policy_mut(&mut self, name: &str) -> &mut Policy {
        self.vault_mut()
            .policies
            .iter_mut()
            .find(|policy| policy.name == name)
            .expect("the fixture has this policy")
    }

    pub(crate) fn reprotect_mut(&mut self, name: &str) -> &mut Reprotect {
        self.config
            .reprotects
            .iter_mut()
            .find(|r| r.address.name == name)
            .expect("the fixture declares this reprotect")
    }

    pub(crate) fn master_target_mut(&mut self, name: &str) -> &mut MasterTarget {
        self.config
            .master_targets
            .iter_mut()
            .find(|mt| mt.address.name == name)
            .expect("the fixture declares this master target")
    }

    /// Puts the named reprotects into a `recovery_plan` block (and a plan of the same
    /// name into the vault).
    pub(crate) fn add_recovery_plan(&mut self, name: &str, members: &[&str]) {
        let line = 70 + self.config.recovery_plans.len() * 10;
        self.config.recovery_plans.push(RecoveryPlan {
            address: Address::new("recovery_plan", name),
            declared: declared(line, &["name", "members", "master_target", "datastore"]),
            plan_name: name.to_owned(),
            members: members
                .iter()
                .map(|member| reference("reprotect", member, line + 2))
                .collect(),
            master_target: None,
            process_server: None,
            datastore: None,
            acknowledgements: Vec::new(),
        });
        let member_ids = members
            .iter()
            .filter_map(|member| {
                let item_name = self
                    .config
                    .reprotects
                    .iter()
                    .find(|r| r.address.name == *member)
                    .map(|r| r.protected_item.clone())?;
                self.observed.vaults["vault.dr"]
                    .protected_items
                    .iter()
                    .find(|item| item.name == item_name || item.friendly_name == item_name)
                    .map(|item| item.id.clone())
            })
            .collect();
        self.vault_mut().recovery_plans.push(vault::RecoveryPlan {
            id: format!("{name}-id"),
            name: name.to_owned(),
            friendly_name: name.to_owned(),
            members: member_ids,
            allowed_operations: vec!["ReverseReplicate".to_owned()],
        });
    }
}
