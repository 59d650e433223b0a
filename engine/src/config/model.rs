//! The typed configuration: one struct per block type of the language, each with the
//! source span of its block and of every attribute that was set.
//!
//! This is what loading produces and what the graph, the rules and the planner read.
//! Values are fully evaluated (variables, locals, functions, `for_each`); references
//! to other blocks are kept as [`Reference`]s (an address and the span where the
//! reference was written) so that the graph and diagnostics can point at them.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Where something was written: a file (relative to the configuration directory)
/// and a byte range in it, with the 1-based line and column of its start.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Span {
    pub file: PathBuf,
    pub start: usize,
    pub end: usize,
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Span {
    /// `main.hcl:42:3`, as compilers and editors write a position.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

/// A value that must never be printed, logged or written to state or plans.
/// `Debug`, `Display` and `Serialize` all show `(sensitive value)`.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Sensitive<T>(T);

impl<T> Sensitive<T> {
    pub fn new(value: T) -> Self {
        Sensitive(value)
    }

    /// The secret itself; call only where it is handed to a credential.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Sensitive<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(sensitive value)")
    }
}

impl<T> fmt::Display for Sensitive<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(sensitive value)")
    }
}

impl<T> Serialize for Sensitive<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str("(sensitive value)")
    }
}

/// An object's address, as used everywhere (plan, state, events, errors):
/// `reprotect.web01`, `reprotect.app["db01"]`, `master_target.mt_linux`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(try_from = "String")]
pub struct Address {
    /// The block type, e.g. `reprotect`.
    pub kind: String,
    /// The block label, e.g. `app`.
    pub name: String,
    /// The `for_each` key of an instance, e.g. `db01`.
    pub key: Option<String>,
}

impl Address {
    pub fn new(kind: impl Into<String>, name: impl Into<String>) -> Address {
        Address {
            kind: kind.into(),
            name: name.into(),
            key: None,
        }
    }

    pub fn with_key(mut self, key: impl Into<String>) -> Address {
        self.key = Some(key.into());
        self
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.kind, self.name)?;
        if let Some(key) = &self.key {
            write!(f, "[{key:?}]")?;
        }
        Ok(())
    }
}

/// As its text, written straight into the output: plans and state hold thousands of
/// addresses.
impl Serialize for Address {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl From<Address> for String {
    fn from(address: Address) -> String {
        address.to_string()
    }
}

impl TryFrom<String> for Address {
    type Error = String;

    fn try_from(text: String) -> Result<Address, String> {
        let (head, key) = match text.split_once('[') {
            Some((head, rest)) => {
                let key = rest
                    .strip_suffix(']')
                    .and_then(|k| k.strip_prefix('"'))
                    .and_then(|k| k.strip_suffix('"'))
                    .ok_or_else(|| format!("malformed address {text:?}"))?;
                (head, Some(key.to_owned()))
            }
            None => (text.as_str(), None),
        };
        let (kind, name) = head
            .split_once('.')
            .ok_or_else(|| format!("malformed address {text:?}: expected KIND.NAME"))?;
        Ok(Address {
            kind: kind.to_owned(),
            name: name.to_owned(),
            key,
        })
    }
}

// How the configuration serialises. Its only serialised form is the record of what
// was declared in a saved plan (`desired`): values, with a block's position as
// `file:line:column` and references as the address they name. Diagnostics need the
// byte ranges of every attribute and reference; a record does not, and with them it
// was three times the size and time at thousands of reprotects.

/// A reference from one block to another, with where it was written. Serialised as
/// the address it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub target: Address,
    pub span: Span,
}

impl Serialize for Reference {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.target.serialize(serializer)
    }
}

/// A rule acknowledged for one object: `acknowledge "FB128" { reason = "..." }`.
/// The finding is still shown, marked as acknowledged, and does not block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Acknowledgement {
    pub rule: String,
    pub reason: String,
    #[serde(skip)]
    pub span: Span,
}

/// Where an object was declared: its address, its block's span, and the span of each
/// attribute that was set (by attribute name). Serialised as the block's position
/// (`at`) and `depends_on`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Declared {
    pub span: Span,
    pub attribute_spans: BTreeMap<String, Span>,
    /// The blocks its expressions refer to (directly or through locals), besides the
    /// typed references: the graph's edges.
    pub depends_on: Vec<Reference>,
}

impl Serialize for Declared {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct as _;
        let mut record = serializer.serialize_struct("Declared", 2)?;
        record.serialize_field("at", &format_args!("{}", self.span))?;
        record.serialize_field("depends_on", &self.depends_on)?;
        record.end()
    }
}

impl Declared {
    /// The span of an attribute, or of the whole block when it was not set.
    pub fn span_of(&self, attribute: &str) -> &Span {
        self.attribute_spans.get(attribute).unwrap_or(&self.span)
    }
}

/// A whole, evaluated configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Config {
    pub settings: Settings,
    pub vcenters: Vec<Vcenter>,
    pub vaults: Vec<Vault>,
    pub configuration_servers: Vec<ConfigurationServer>,
    pub process_servers: Vec<ProcessServer>,
    pub master_targets: Vec<MasterTarget>,
    pub failback_policies: Vec<FailbackPolicy>,
    pub reprotects: Vec<Reprotect>,
    pub recovery_plans: Vec<RecoveryPlan>,
    pub outputs: Vec<Output>,
    /// The text of every loaded file, so that findings can be rendered with their lines.
    #[serde(skip)]
    pub sources: super::diagnostic::Sources,
}

/// The `failback` block: settings of the tool itself.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Settings {
    pub declared: Option<Declared>,
    pub state: StateBackend,
    /// How many actions apply runs at once.
    pub parallelism: u32,
    /// How the Azure side reaches on-premises: `vpn` (site-to-site) or `expressroute`
    /// (rule FB103). `None` when not declared: FB103 cannot be checked.
    pub connectivity: Option<Connectivity>,
    /// How long apply waits for an agent to register (FB117), in minutes.
    pub agent_wait_timeout_minutes: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            declared: None,
            state: StateBackend::Local {
                path: PathBuf::from("failback.state.json"),
            },
            parallelism: 10,
            connectivity: None,
            agent_wait_timeout_minutes: 20,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Connectivity {
    Vpn,
    ExpressRoute,
}

/// The `state "local"` / `state "azurerm"` sub-block of `failback`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "backend", rename_all = "lowercase")]
pub enum StateBackend {
    Local {
        path: PathBuf,
    },
    Azurerm {
        storage_account_name: String,
        container_name: String,
        key: String,
        /// Blob endpoint override (Azurite, sovereign clouds).
        endpoint: Option<String>,
        access_key: Option<Sensitive<String>>,
    },
}

/// `vcenter "NAME"`: an on-premises vCenter to discover and change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Vcenter {
    pub address: Address,
    pub declared: Declared,
    /// `https://vcsa.example.local/sdk` (a bare host name gets `https://` and `/sdk`).
    pub url: Option<String>,
    /// Falls back to `VSPHERE_USER`.
    pub username: Option<String>,
    /// Falls back to `VSPHERE_PASSWORD`.
    pub password: Option<Sensitive<String>>,
    /// A pinned SHA-256 (or SHA-1) certificate thumbprint.
    pub thumbprint: Option<String>,
    pub ca_file: Option<PathBuf>,
    pub insecure: bool,
}

/// `vault "NAME"`: a Recovery Services vault.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Vault {
    pub address: Address,
    pub declared: Declared,
    pub subscription_id: String,
    pub resource_group: String,
    /// The vault's resource name.
    pub vault_name: String,
    /// The ARM endpoint, default `https://management.azure.com`.
    pub endpoint: Option<String>,
    /// A static bearer token (the simulator); otherwise azure_identity is used.
    pub access_token: Option<Sensitive<String>>,
}

/// `configuration_server "NAME"`: the on-premises configuration server, a VMware
/// fabric in the vault.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConfigurationServer {
    pub address: Address,
    pub declared: Declared,
    pub vault: Reference,
    /// The fabric's ARM resource name.
    pub fabric: String,
    pub vcenter: Reference,
    pub acknowledgements: Vec<Acknowledgement>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProcessServerLocation {
    Azure,
    Onprem,
}

/// `process_server "NAME"`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProcessServer {
    pub address: Address,
    pub declared: Declared,
    pub configuration_server: Reference,
    /// The process server's friendly name in the fabric.
    pub server_name: String,
    pub location: ProcessServerLocation,
    pub acknowledgements: Vec<Acknowledgement>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OsFamily {
    Windows,
    Linux,
}

/// `master_target "NAME"`: the on-premises VM that receives reverse replication.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MasterTarget {
    pub address: Address,
    pub declared: Declared,
    pub configuration_server: Reference,
    /// The master target's VM name in vCenter.
    pub vm: String,
    /// The master target's name in the fabric; defaults to `vm`.
    pub server_name: String,
    pub os: OsFamily,
    /// Default `R:` on Windows, `/mnt/retention` on Linux (FB109).
    pub retention_volume: String,
    /// Datastores this master target may place disks on (FB111, FB114).
    pub datastores: Vec<String>,
    /// Plan a fix for `disk.EnableUUID` (FB107) instead of failing.
    pub ensure_disk_enable_uuid: bool,
    /// Plan removing the master target's snapshots (FB115) instead of failing.
    pub remove_snapshots: bool,
    pub acknowledgements: Vec<Acknowledgement>,
}

/// `failback_policy "NAME"`: the expected values of the automatically created
/// failback policy (FB119).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FailbackPolicy {
    pub address: Address,
    pub declared: Declared,
    /// The policy's name in the vault; defaults to the block label.
    pub policy_name: String,
    pub rpo_threshold_minutes: u32,
    pub recovery_point_retention_hours: u32,
    pub app_consistent_frequency_minutes: u32,
}

/// `reprotect "NAME"` (or one instance of it under `for_each`): reverse replication
/// of one protected item.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reprotect {
    pub address: Address,
    pub declared: Declared,
    /// The protected item's name (or friendly name) in the vault.
    pub protected_item: String,
    /// The on-premises VM's name, when it differs from what the vault reports.
    pub vm: Option<String>,
    pub process_server: Reference,
    pub master_target: Reference,
    /// Required by FB118; `None` is reported by that rule.
    pub datastore: Option<String>,
    /// Defaults to the master target's `retention_volume`.
    pub retention_volume: Option<String>,
    pub policy: Option<Reference>,
    /// The run-as account's name on the configuration server.
    pub run_as_account: Option<String>,
    /// Plan removing the VM's snapshots (FB102) instead of failing.
    pub remove_snapshots: bool,
    pub acknowledgements: Vec<Acknowledgement>,
}

/// `recovery_plan "NAME"`: members reprotected as one unit (FB120, FB121).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecoveryPlan {
    pub address: Address,
    pub declared: Declared,
    /// The recovery plan's name in the vault.
    pub plan_name: String,
    /// The member reprotects.
    pub members: Vec<Reference>,
    /// When given, every member must use this master target (FB121).
    pub master_target: Option<Reference>,
    /// When given, every member must use this process server.
    pub process_server: Option<Reference>,
    /// The datastore for members that name none (FB118).
    pub datastore: Option<String>,
    pub acknowledgements: Vec<Acknowledgement>,
}

/// `output "NAME"`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Output {
    pub address: Address,
    pub declared: Declared,
    pub description: Option<String>,
    pub sensitive: bool,
    /// The evaluated value, as JSON; `None` when it is sensitive.
    pub value: Option<serde_json::Value>,
}

impl Config {
    /// The address of every block (each `for_each` instance its own), in dependency
    /// order of kinds: providers, servers, master targets, policies, reprotects, plans.
    pub fn block_addresses(&self) -> impl Iterator<Item = &Address> {
        self.vcenters
            .iter()
            .map(|o| &o.address)
            .chain(self.vaults.iter().map(|o| &o.address))
            .chain(self.configuration_servers.iter().map(|o| &o.address))
            .chain(self.process_servers.iter().map(|o| &o.address))
            .chain(self.master_targets.iter().map(|o| &o.address))
            .chain(self.failback_policies.iter().map(|o| &o.address))
            .chain(self.reprotects.iter().map(|o| &o.address))
            .chain(self.recovery_plans.iter().map(|o| &o.address))
    }

    /// The reprotects `selected` picks and every block they go through: master target,
    /// process server, policy, recovery plan, and through the servers the
    /// configuration server, vCenter and vault.
    pub fn blocks_used_by(&self, selected: impl Fn(&Address) -> bool) -> HashSet<Address> {
        let mut in_use = HashSet::new();
        let mut configuration_servers = Vec::new();
        for reprotect in self.reprotects.iter().filter(|r| selected(&r.address)) {
            in_use.insert(reprotect.address.clone());
            in_use.insert(reprotect.master_target.target.clone());
            in_use.insert(reprotect.process_server.target.clone());
            if let Some(policy) = &reprotect.policy {
                in_use.insert(policy.target.clone());
            }
            if let Some(master_target) = self.master_target(&reprotect.master_target.target) {
                configuration_servers.push(&master_target.configuration_server.target);
            }
            if let Some(process_server) = self.process_server(&reprotect.process_server.target) {
                configuration_servers.push(&process_server.configuration_server.target);
            }
        }
        for address in configuration_servers {
            in_use.insert(address.clone());
            if let Some(server) = self.configuration_server(address) {
                in_use.insert(server.vcenter.target.clone());
                in_use.insert(server.vault.target.clone());
            }
        }
        for plan in &self.recovery_plans {
            if plan
                .members
                .iter()
                .any(|member| in_use.contains(&member.target))
            {
                in_use.insert(plan.address.clone());
            }
        }
        in_use
    }

    pub fn master_target(&self, address: &Address) -> Option<&MasterTarget> {
        self.master_targets.iter().find(|mt| &mt.address == address)
    }

    pub fn process_server(&self, address: &Address) -> Option<&ProcessServer> {
        self.process_servers
            .iter()
            .find(|ps| &ps.address == address)
    }

    pub fn configuration_server(&self, address: &Address) -> Option<&ConfigurationServer> {
        self.configuration_servers
            .iter()
            .find(|cs| &cs.address == address)
    }

    pub fn reprotect(&self, address: &Address) -> Option<&Reprotect> {
        self.reprotects.iter().find(|r| &r.address == address)
    }

    pub fn failback_policy(&self, address: &Address) -> Option<&FailbackPolicy> {
        self.failback_policies
            .iter()
            .find(|p| &p.address == address)
    }

    /// The VM names of the master targets whose configuration server is in `vcenter`:
    /// what its discovery asks privileges on, for the fixes apply may make there.
    pub fn master_target_vms_in(&self, vcenter: &Address) -> Vec<String> {
        self.master_targets
            .iter()
            .filter(|mt| {
                self.configuration_server(&mt.configuration_server.target)
                    .is_some_and(|server| &server.vcenter.target == vcenter)
            })
            .map(|mt| mt.vm.clone())
            .collect()
    }

    pub fn vcenter(&self, address: &Address) -> Option<&Vcenter> {
        self.vcenters.iter().find(|v| &v.address == address)
    }

    pub fn vault(&self, address: &Address) -> Option<&Vault> {
        self.vaults.iter().find(|v| &v.address == address)
    }

    pub fn recovery_plan(&self, address: &Address) -> Option<&RecoveryPlan> {
        self.recovery_plans.iter().find(|p| &p.address == address)
    }

    /// The acknowledgements declared on the object at `address`, if it takes any.
    pub fn acknowledgements(&self, address: &Address) -> &[Acknowledgement] {
        let found = match address.kind.as_str() {
            "configuration_server" => self
                .configuration_server(address)
                .map(|o| &o.acknowledgements),
            "process_server" => self.process_server(address).map(|o| &o.acknowledgements),
            "master_target" => self.master_target(address).map(|o| &o.acknowledgements),
            "reprotect" => self.reprotect(address).map(|o| &o.acknowledgements),
            "recovery_plan" => self.recovery_plan(address).map(|o| &o.acknowledgements),
            _ => None,
        };
        found.map_or(&[], Vec::as_slice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_round_trips_through_text() {
        for text in ["reprotect.web01", "reprotect.app[\"db01\"]"] {
            let address = Address::try_from(text.to_owned()).unwrap();
            assert_eq!(address.to_string(), text);
        }
    }

    #[test]
    fn sensitive_values_never_show() {
        let secret = Sensitive::new("hunter2".to_owned());
        assert_eq!(
            format!("{secret:?} {secret}"),
            "(sensitive value) (sensitive value)"
        );
        assert_eq!(
            serde_json::to_string(&secret).unwrap(),
            "\"(sensitive value)\""
        );
    }
}
