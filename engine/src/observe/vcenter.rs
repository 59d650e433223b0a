//! The on-premises side as vCenter reports it: hosts, datastores, storage pods, VMs,
//! licences and the discovery user's privileges.
//!
//! Relations are kept by managed object id (`host-12`, `datastore-7`) as vCenter gives
//! them, with names beside them; the lookup helpers resolve names. Sizes are bytes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Everything discovered from one vCenter.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VcenterInventory {
    pub about: About,
    /// The user the session runs as.
    pub session_user: String,
    pub hosts: Vec<Host>,
    pub datastores: Vec<Datastore>,
    pub storage_pods: Vec<StoragePod>,
    pub vms: Vec<VirtualMachine>,
    /// Privileges of the session user, per entity id, privilege id → granted
    /// (`HasPrivilegeOnEntities`). Empty when the query was not allowed.
    pub privileges: BTreeMap<String, BTreeMap<String, bool>>,
}

/// `ServiceContent.about`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct About {
    pub name: String,
    pub full_name: String,
    pub version: String,
    /// `VirtualCenter` or `HostAgent`.
    pub api_type: String,
    pub instance_uuid: String,
}

/// An ESXi host.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Host {
    pub id: String,
    pub name: String,
    pub cluster: Option<String>,
    pub version: String,
    /// `connected`, `disconnected`, `notResponding`.
    pub connection_state: String,
    /// The licence edition key (`esx.enterprisePlus.cpuPackage`, `esx.vsphere.free`,
    /// `eval`), when the licence manager reports one.
    pub license_edition: Option<String>,
    /// Ids of the datastores mounted on this host.
    pub datastores: Vec<String>,
}

/// A datastore with its per-host mounts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Datastore {
    pub id: String,
    pub name: String,
    /// `VMFS`, `NFS`, `NFS41`, `vsan`, `VVOL`.
    pub kind: String,
    pub capacity_bytes: u64,
    pub free_bytes: u64,
    /// The storage pod (datastore cluster) id it belongs to.
    pub storage_pod: Option<String>,
    pub mounts: Vec<HostMount>,
}

/// A datastore as mounted on one host.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostMount {
    pub host: String,
    /// `readWrite` or `readOnly`.
    pub access_mode: String,
    pub mounted: bool,
    pub accessible: bool,
}

/// A datastore cluster with its storage DRS settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoragePod {
    pub id: String,
    pub name: String,
    pub sdrs_enabled: bool,
    /// `automated` or `manual`.
    pub default_vm_behavior: String,
    /// Per-VM overrides: VM id → behaviour (`automated`, `manual`, `disabled`).
    pub vm_overrides: BTreeMap<String, String>,
}

/// A virtual machine.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VirtualMachine {
    pub id: String,
    pub name: String,
    /// `config.guestId`, e.g. `rhel8_64Guest`, `windows2019srv_64Guest`.
    pub guest_id: String,
    /// The host it runs on.
    pub host: Option<String>,
    /// `poweredOn`, `poweredOff`, `suspended`.
    pub power_state: String,
    pub bios_uuid: String,
    /// SCSI controllers, by vSphere device type: `VirtualLsiLogicController`,
    /// `VirtualLsiLogicSASController`, `ParaVirtualSCSIController`,
    /// `VirtualBusLogicController`.
    pub scsi_controllers: Vec<String>,
    pub disks: Vec<VirtualDisk>,
    /// `config.extraConfig`, key → value.
    pub extra_config: BTreeMap<String, String>,
    /// Names of every snapshot in the tree, depth first.
    pub snapshots: Vec<String>,
    /// `guest.toolsRunningStatus`: `guestToolsRunning`, `guestToolsNotRunning`,
    /// `guestToolsExecutingScripts`.
    pub tools_running_status: String,
    /// Ids of the datastores the VM's files live on.
    pub datastores: Vec<String>,
}

/// A virtual disk of a VM.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VirtualDisk {
    pub label: String,
    pub capacity_bytes: u64,
    pub datastore: Option<String>,
    pub uuid: Option<String>,
}

impl VcenterInventory {
    pub fn vm_by_name(&self, name: &str) -> Option<&VirtualMachine> {
        self.vms.iter().find(|vm| vm.name == name)
    }

    pub fn host(&self, id: &str) -> Option<&Host> {
        self.hosts.iter().find(|host| host.id == id)
    }

    pub fn datastore(&self, id: &str) -> Option<&Datastore> {
        self.datastores.iter().find(|ds| ds.id == id)
    }

    pub fn datastore_by_name(&self, name: &str) -> Option<&Datastore> {
        self.datastores.iter().find(|ds| ds.name == name)
    }

    pub fn storage_pod(&self, id: &str) -> Option<&StoragePod> {
        self.storage_pods.iter().find(|pod| pod.id == id)
    }
}
