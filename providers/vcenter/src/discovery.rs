//! Discovery: everything the rules need from one vCenter, in a number of round trips
//! that does not depend on the number of VMs.
//!
//! One `RetrievePropertiesEx` over a recursive container view reads every VM, host,
//! datastore, storage pod, cluster and datacenter (paged with
//! `ContinueRetrievePropertiesEx`), one `QueryAssignedLicenses` reads every host's
//! licence, and one `HasPrivilegeOnEntities` reads the session user's privileges on
//! the root folder, the datacenters, the datastores and the VMs a fix may change: those
//! with snapshots and those named by the caller (the master targets, whose
//! disk.EnableUUID apply may set). A permission set on one VM overrides what it would
//! inherit, so the VM itself is asked.
//! A whole discovery is 7 + pages calls, whatever the size of the estate.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use failback_engine::observe::vcenter::{
    Datastore, Host, HostMount, StoragePod, VcenterInventory, VirtualDisk, VirtualMachine,
};

use crate::client::{MoRef, Session, properties};
use crate::error::VcenterError;
use crate::soap::text_element;
use crate::xml::Node;

/// The privileges rule FB101 needs, checked on the root folder, the datacenters and
/// the datastores.
pub const REQUIRED_PRIVILEGES: &[&str] = &[
    "System.View",
    "System.Read",
    "Datastore.Browse",
    "VirtualMachine.Config.AdvancedConfig",
    "VirtualMachine.State.RemoveSnapshot",
];

const VIEW_TYPES: &[&str] = &[
    "VirtualMachine",
    "HostSystem",
    "Datastore",
    "StoragePod",
    "ClusterComputeResource",
    "Datacenter",
];

const VM_PATHS: &[&str] = &[
    "name",
    "config.uuid",
    "config.guestId",
    "config.extraConfig",
    "config.hardware.device",
    "guest.toolsRunningStatus",
    "runtime.powerState",
    "runtime.host",
    "snapshot",
    "datastore",
];
const HOST_PATHS: &[&str] = &[
    "name",
    "runtime.connectionState",
    "summary.config.product",
    "datastore",
    "parent",
];
const DATASTORE_PATHS: &[&str] = &[
    "name",
    "summary.type",
    "summary.capacity",
    "summary.freeSpace",
    "host",
    "parent",
];
const POD_PATHS: &[&str] = &[
    "name",
    "podStorageDrsEntry.storageDrsConfig.podConfig.enabled",
    "podStorageDrsEntry.storageDrsConfig.podConfig.defaultVmBehavior",
    "podStorageDrsEntry.storageDrsConfig.vmConfig",
];

/// The vSphere device types of SCSI controllers.
const SCSI_CONTROLLERS: &[&str] = &[
    "ParaVirtualSCSIController",
    "VirtualLsiLogicController",
    "VirtualLsiLogicSASController",
    "VirtualBusLogicController",
];

/// Reads the whole inventory in the given session.
pub async fn discover(
    session: &Session<'_>,
    page_size: u32,
    privilege_vms: &BTreeSet<String>,
) -> Result<VcenterInventory, VcenterError> {
    let view = session.create_container_view(VIEW_TYPES).await?;
    let collected = collect(session, &view, page_size).await;
    // The view is per session and dies with it; destroying it keeps long sessions tidy,
    // but a failure here must not hide the discovery result or its error.
    if let Err(err) = session.destroy_view(&view).await {
        tracing::debug!("DestroyView failed: {err}");
    }
    let mut builder = collected?;

    if let Some(manager) = builder.license_assignment_manager.take() {
        match host_licenses(session, &manager, &builder.hosts).await {
            Ok(editions) => builder.license_editions = editions,
            Err(err) => {
                tracing::warn!("cannot read host licences (rule FB124 will not be checked): {err}")
            }
        }
    }

    let mut entities = vec![session.content.root_folder.clone()];
    entities.extend(builder.datacenters.iter().cloned());
    entities.extend(
        builder
            .datastores
            .iter()
            .map(|ds| MoRef::new("Datastore", ds.id.clone())),
    );
    let shared_entities = entities.len();
    entities.extend(
        builder
            .vms
            .iter()
            .filter(|vm| !vm.snapshots.is_empty() || privilege_vms.contains(&vm.name))
            .map(|vm| MoRef::new("VirtualMachine", vm.id.clone())),
    );
    let mut answer = query_privileges(session, &entities).await;
    if let Err(err) = &answer
        && entities.len() > shared_entities
    {
        // A VM deleted since the inventory was read fails the whole query
        // (ManagedObjectNotFound). Without the VMs, FB101 still judges fixes by what
        // the root folder and the datacenters grant.
        tracing::warn!(
            "cannot read the session user's privileges on VMs, asking without them: {err}"
        );
        entities.truncate(shared_entities);
        answer = query_privileges(session, &entities).await;
    }
    let privileges = match answer {
        Ok(privileges) => privileges,
        Err(err) => {
            tracing::warn!("cannot read the session user's privileges: {err}");
            BTreeMap::new()
        }
    };

    let mut inventory = builder.finish();
    inventory.about = session.content.about.clone();
    inventory.session_user = session.user.clone();
    inventory.privileges = privileges;
    Ok(inventory)
}

async fn collect(
    session: &Session<'_>,
    view: &MoRef,
    page_size: u32,
) -> Result<Builder, VcenterError> {
    let spec = discovery_spec(view, session.content.license_manager.as_ref());
    let mut builder = Builder::default();
    session
        .retrieve(&spec, Some(page_size), |object| builder.add(object))
        .await?;
    Ok(builder)
}

/// The filter spec of the discovery call.
pub fn discovery_spec(view: &MoRef, license_manager: Option<&MoRef>) -> String {
    let mut spec = String::with_capacity(4096);
    let mut prop_set = |kind: &str, paths: &[&str]| {
        spec.push_str("<propSet>");
        text_element(&mut spec, "type", kind);
        for path in paths {
            text_element(&mut spec, "pathSet", path);
        }
        spec.push_str("</propSet>");
    };
    prop_set("VirtualMachine", VM_PATHS);
    prop_set("HostSystem", HOST_PATHS);
    prop_set("Datastore", DATASTORE_PATHS);
    prop_set("StoragePod", POD_PATHS);
    prop_set("ClusterComputeResource", &["name"]);
    prop_set("Datacenter", &["name"]);
    if license_manager.is_some() {
        prop_set("LicenseManager", &["licenseAssignmentManager"]);
    }
    // WSDL order: every propSet before every objectSet.
    spec.push_str("<objectSet>");
    view.write(&mut spec, "obj");
    spec.push_str(
        "<skip>true</skip><selectSet xsi:type=\"TraversalSpec\"><name>traverseView</name>\
         <type>ContainerView</type><path>view</path><skip>false</skip></selectSet></objectSet>",
    );
    if let Some(manager) = license_manager {
        spec.push_str("<objectSet>");
        manager.write(&mut spec, "obj");
        spec.push_str("</objectSet>");
    }
    spec
}

/// Accumulates discovered objects, page after page.
#[derive(Default)]
pub struct Builder {
    vms: Vec<VirtualMachine>,
    hosts: Vec<Host>,
    /// Host id → id of its parent compute resource.
    host_parents: HashMap<String, String>,
    datastores: Vec<Datastore>,
    pods: Vec<StoragePod>,
    clusters: HashMap<String, String>,
    datacenters: Vec<MoRef>,
    license_assignment_manager: Option<MoRef>,
    license_editions: HashMap<String, String>,
}

impl Builder {
    /// Adds one `<objects>` element of a property collector answer.
    pub fn add(&mut self, object: Node<'_>) -> Result<(), VcenterError> {
        let Some(obj) = object.child("obj").and_then(MoRef::from_node) else {
            return Err(VcenterError::Protocol {
                method: "RetrievePropertiesEx".into(),
                detail: "an object without a reference".into(),
            });
        };
        match obj.kind.as_str() {
            "VirtualMachine" => self.vms.push(parse_vm(obj.id, object)),
            "HostSystem" => {
                let (host, parent) = parse_host(obj.id, object);
                if let Some(parent) = parent {
                    self.host_parents.insert(host.id.clone(), parent);
                }
                self.hosts.push(host);
            }
            "Datastore" => self.datastores.push(parse_datastore(obj.id, object)),
            "StoragePod" => self.pods.push(parse_pod(obj.id, object)),
            "ClusterComputeResource" => {
                let name = name_of(object);
                self.clusters.insert(obj.id, name);
            }
            "Datacenter" => self.datacenters.push(obj),
            "LicenseManager" => {
                self.license_assignment_manager = properties(object)
                    .find(|(name, _)| *name == "licenseAssignmentManager")
                    .and_then(|(_, val)| MoRef::from_node(val));
            }
            other => tracing::debug!(kind = other, "ignoring unexpected object in discovery"),
        }
        Ok(())
    }

    /// Resolves relations and sorts everything by name, so two discoveries of the same
    /// world compare (and digest) equal.
    pub fn finish(mut self) -> VcenterInventory {
        for host in &mut self.hosts {
            host.cluster = self
                .host_parents
                .get(&host.id)
                .and_then(|parent| self.clusters.get(parent))
                .cloned();
            host.license_edition = self.license_editions.get(&host.id).cloned();
        }
        self.hosts
            .sort_by(|a, b| (&a.name, &a.id).cmp(&(&b.name, &b.id)));
        self.datastores
            .sort_by(|a, b| (&a.name, &a.id).cmp(&(&b.name, &b.id)));
        self.pods
            .sort_by(|a, b| (&a.name, &a.id).cmp(&(&b.name, &b.id)));
        self.vms
            .sort_by(|a, b| (&a.name, &a.id).cmp(&(&b.name, &b.id)));
        VcenterInventory {
            hosts: self.hosts,
            datastores: self.datastores,
            storage_pods: self.pods,
            vms: self.vms,
            ..VcenterInventory::default()
        }
    }
}

fn name_of(object: Node<'_>) -> String {
    properties(object)
        .find(|(name, _)| *name == "name")
        .map(|(_, val)| val.text().to_string())
        .unwrap_or_default()
}

fn morefs(val: Node<'_>) -> Vec<String> {
    val.children()
        .filter_map(MoRef::from_node)
        .map(|moref| moref.id)
        .collect()
}

fn parse_u64(text: &str) -> u64 {
    text.trim().parse().unwrap_or(0)
}

fn parse_bool(text: &str) -> bool {
    text.trim().eq_ignore_ascii_case("true") || text.trim() == "1"
}

fn parse_vm(id: String, object: Node<'_>) -> VirtualMachine {
    let mut vm = VirtualMachine {
        id,
        ..VirtualMachine::default()
    };
    for (name, val) in properties(object) {
        match name {
            "name" => vm.name = val.text().to_string(),
            "config.uuid" => vm.bios_uuid = val.text().to_string(),
            "config.guestId" => vm.guest_id = val.text().to_string(),
            "config.extraConfig" => {
                for option in val.children() {
                    let Some(key) = option.child_text("key") else {
                        continue;
                    };
                    let value = option.child_text("value").unwrap_or("");
                    // vcsim before 0.31 appends a duplicate instead of replacing: the
                    // last occurrence is the value in force.
                    vm.extra_config.insert(key.to_string(), value.to_string());
                }
            }
            "config.hardware.device" => parse_devices(&mut vm, val),
            "guest.toolsRunningStatus" => vm.tools_running_status = val.text().to_string(),
            "runtime.powerState" => vm.power_state = val.text().to_string(),
            "runtime.host" => vm.host = MoRef::from_node(val).map(|host| host.id),
            "snapshot" => {
                for root in val.children_named("rootSnapshotList") {
                    snapshot_names(root, &mut vm.snapshots);
                }
            }
            "datastore" => vm.datastores = morefs(val),
            _ => {}
        }
    }
    vm
}

fn snapshot_names(tree: Node<'_>, out: &mut Vec<String>) {
    out.push(tree.child_text("name").unwrap_or("").to_string());
    for child in tree.children_named("childSnapshotList") {
        snapshot_names(child, out);
    }
}

fn parse_devices(vm: &mut VirtualMachine, devices: Node<'_>) {
    for device in devices.children() {
        let kind = device.xsi_type().unwrap_or(device.name());
        if SCSI_CONTROLLERS.contains(&kind) {
            vm.scsi_controllers.push(kind.to_string());
        } else if kind == "VirtualDisk" {
            let capacity_bytes = device
                .child_text("capacityInBytes")
                .map(parse_u64)
                .filter(|bytes| *bytes > 0)
                .unwrap_or_else(|| {
                    device
                        .child_text("capacityInKB")
                        .map(parse_u64)
                        .unwrap_or(0)
                        * 1024
                });
            let backing = device.child("backing");
            vm.disks.push(VirtualDisk {
                label: device
                    .path(&["deviceInfo", "label"])
                    .map(|label| label.text().to_string())
                    .unwrap_or_default(),
                capacity_bytes,
                datastore: backing
                    .and_then(|backing| backing.child("datastore"))
                    .and_then(MoRef::from_node)
                    .map(|ds| ds.id),
                uuid: backing
                    .and_then(|backing| backing.child_text("uuid"))
                    .filter(|uuid| !uuid.is_empty())
                    .map(str::to_string),
            });
        }
    }
}

fn parse_host(id: String, object: Node<'_>) -> (Host, Option<String>) {
    let mut host = Host {
        id,
        ..Host::default()
    };
    let mut parent = None;
    for (name, val) in properties(object) {
        match name {
            "name" => host.name = val.text().to_string(),
            "runtime.connectionState" => host.connection_state = val.text().to_string(),
            "summary.config.product" => {
                host.version = val.child_text("version").unwrap_or("").to_string();
            }
            "datastore" => host.datastores = morefs(val),
            "parent" => parent = MoRef::from_node(val).map(|moref| moref.id),
            _ => {}
        }
    }
    (host, parent)
}

fn parse_datastore(id: String, object: Node<'_>) -> Datastore {
    let mut ds = Datastore {
        id,
        ..Datastore::default()
    };
    for (name, val) in properties(object) {
        match name {
            "name" => ds.name = val.text().to_string(),
            "summary.type" => ds.kind = val.text().to_string(),
            "summary.capacity" => ds.capacity_bytes = parse_u64(val.text()),
            "summary.freeSpace" => ds.free_bytes = parse_u64(val.text()),
            "parent" => {
                ds.storage_pod = MoRef::from_node(val)
                    .filter(|parent| parent.kind == "StoragePod")
                    .map(|pod| pod.id);
            }
            "host" => {
                ds.mounts = val
                    .children()
                    .filter_map(|mount| {
                        let host = mount.child("key").and_then(MoRef::from_node)?.id;
                        let info = mount.child("mountInfo");
                        let text = |name: &str| info.and_then(|info| info.child_text(name));
                        Some(HostMount {
                            host,
                            access_mode: text("accessMode").unwrap_or("").to_string(),
                            // Absent means the default: mounted and accessible.
                            mounted: text("mounted").is_none_or(parse_bool),
                            accessible: text("accessible").is_none_or(parse_bool),
                        })
                    })
                    .collect();
            }
            _ => {}
        }
    }
    ds
}

fn parse_pod(id: String, object: Node<'_>) -> StoragePod {
    let mut pod = StoragePod {
        id,
        ..StoragePod::default()
    };
    for (name, val) in properties(object) {
        match name {
            "name" => pod.name = val.text().to_string(),
            "podStorageDrsEntry.storageDrsConfig.podConfig.enabled" => {
                pod.sdrs_enabled = parse_bool(val.text());
            }
            "podStorageDrsEntry.storageDrsConfig.podConfig.defaultVmBehavior" => {
                pod.default_vm_behavior = val.text().to_string();
            }
            "podStorageDrsEntry.storageDrsConfig.vmConfig" => {
                for config in val.children() {
                    let Some(vm) = config.child("vm").and_then(MoRef::from_node) else {
                        continue;
                    };
                    let enabled = config.child_text("enabled").is_none_or(parse_bool);
                    let behavior = config.child_text("behavior").filter(|b| !b.is_empty());
                    let effective = match (enabled, behavior) {
                        (false, _) => "disabled",
                        (true, Some(behavior)) => behavior,
                        // Enabled without a behaviour follows the pod: no override.
                        (true, None) => continue,
                    };
                    pod.vm_overrides.insert(vm.id, effective.to_string());
                }
            }
            _ => {}
        }
    }
    pod
}

/// Host id → licence edition key. One call without `entityId` lists every assignment
/// on the servers failback was tested against; a server whose answer names none of the
/// hosts (older vcsim answers with one anonymous evaluation entry) is asked per host.
async fn host_licenses(
    session: &Session<'_>,
    manager: &MoRef,
    hosts: &[Host],
) -> Result<HashMap<String, String>, VcenterError> {
    let mut editions = query_licenses(session, manager, None).await?;
    if hosts.is_empty() || hosts.iter().any(|host| editions.contains_key(&host.id)) {
        return Ok(editions);
    }
    for host in hosts {
        let answer = query_licenses(session, manager, Some(&host.id)).await?;
        if let Some(edition) = answer.into_values().next() {
            editions.insert(host.id.clone(), edition);
        }
    }
    Ok(editions)
}

/// One `QueryAssignedLicenses`: entity id → edition key. With an `entity`, an answer
/// without an entity id is taken as that entity's.
async fn query_licenses(
    session: &Session<'_>,
    manager: &MoRef,
    entity: Option<&str>,
) -> Result<HashMap<String, String>, VcenterError> {
    let mut inner = String::new();
    manager.write(&mut inner, "_this");
    if let Some(entity) = entity {
        text_element(&mut inner, "entityId", entity);
    }
    let response = session.call("QueryAssignedLicenses", &inner).await?;
    let mut editions = HashMap::new();
    if let Some(result) = response.result() {
        for assignment in result.children_named("returnval") {
            let entity = assignment
                .child_text("entityId")
                .map(str::trim)
                .filter(|id| !id.is_empty())
                .or(entity)
                .unwrap_or("");
            let edition = assignment
                .path(&["assignedLicense", "editionKey"])
                .map(|edition| edition.text().trim())
                .unwrap_or("");
            if !entity.is_empty() && !edition.is_empty() {
                editions.insert(entity.to_string(), edition.to_string());
            }
        }
    }
    Ok(editions)
}

/// Entity id → privilege → granted, for [`REQUIRED_PRIVILEGES`].
async fn query_privileges(
    session: &Session<'_>,
    entities: &[MoRef],
) -> Result<BTreeMap<String, BTreeMap<String, bool>>, VcenterError> {
    let Some(manager) = &session.content.authorization_manager else {
        return Ok(BTreeMap::new());
    };
    let mut inner = String::new();
    manager.write(&mut inner, "_this");
    for entity in entities {
        entity.write(&mut inner, "entity");
    }
    text_element(&mut inner, "sessionId", session.key.expose());
    for privilege in REQUIRED_PRIVILEGES {
        text_element(&mut inner, "privId", privilege);
    }
    let response = session.call("HasPrivilegeOnEntities", &inner).await?;
    let mut privileges = BTreeMap::new();
    if let Some(result) = response.result() {
        for entity in result.children_named("returnval") {
            let Some(id) = entity.child("entity").and_then(MoRef::from_node) else {
                continue;
            };
            let granted: BTreeMap<String, bool> = entity
                .children_named("privAvailability")
                .filter_map(|availability| {
                    let privilege = availability.child_text("privId")?;
                    let granted = availability.child_text("isGranted").is_some_and(parse_bool);
                    Some((privilege.to_string(), granted))
                })
                .collect();
            privileges.insert(id.id, granted);
        }
    }
    Ok(privileges)
}
