//! The diff: each declared reprotect against the protected item the vault reports,
//! giving the actions to take (with their direct prerequisites), the reprotects done
//! as declared, those that drifted, and those that cannot be planned, with why.
//!
//! Names from the configuration are matched against the vault case-insensitively, as
//! ASR itself compares them. Rules (`crate::rules`) report the same missing links as
//! findings; here a missing link only keeps an action out of the plan, with its
//! reason, so that nothing disappears silently.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::config::{Address, Config, Reprotect};
use crate::observe::Observed;
use crate::observe::vault::{Fabric, ProtectedItem, VaultInventory};
use crate::provider::{ProviderAction, ReprotectRequest};

use super::Fix;
use super::model::{ChangeKind, NotPlanned, PlannedAction, ResourceDrift, kinds};

const UNPLANNED_FAILOVER_COMMITTED: &str = "UnplannedFailoverCommitted";
const REVERSE_REPLICATE: &str = "ReverseReplicate";
const PROTECTED: &str = "Protected";
/// The instance type of reverse (Azure → on-premises) replication.
const REVERSE_INSTANCE_TYPE: &str = "InMage";

pub(super) struct Diff {
    /// Unordered; `depends_on` holds the direct prerequisites.
    pub actions: Vec<PlannedAction>,
    pub drift: Vec<ResourceDrift>,
    pub unchanged: Vec<Address>,
    pub not_planned: Vec<NotPlanned>,
}

pub(super) fn diff(config: &Config, observed: &Observed, fixes: &[Fix]) -> Diff {
    let mut out = Diff {
        actions: Vec::new(),
        drift: Vec::new(),
        unchanged: Vec::new(),
        not_planned: Vec::new(),
    };
    let mut ids = BTreeSet::new();

    let mut fix_ids: Vec<(Address, String)> = Vec::new();
    let mut sorted_fixes: Vec<&Fix> = fixes.iter().collect();
    sorted_fixes.sort_by(|a, b| {
        (&a.address, &a.rule, &a.provider).cmp(&(&b.address, &b.rule, &b.provider))
    });
    for fix in sorted_fixes {
        let kind = action_kind(&fix.action);
        let id = unique_id(&mut ids, &fix.address, kind);
        let change = match fix.action {
            ProviderAction::VmRemoveSnapshots { .. } => ChangeKind::Delete,
            ProviderAction::WaitForAgent { .. } => ChangeKind::Read,
            ProviderAction::Reprotect(_) => ChangeKind::Create,
            ProviderAction::VmSetExtraConfig { .. } => ChangeKind::Update,
        };
        fix_ids.push((fix.address.clone(), id.clone()));
        out.actions.push(PlannedAction {
            id,
            address: fix.address.clone(),
            kind: kind.to_owned(),
            change,
            provider: fix.provider.clone(),
            action: fix.action.clone(),
            depends_on: Vec::new(),
            unit: None,
            destructive: change == ChangeKind::Delete,
            reason: format!("{} ({})", fix.reason, fix.rule),
            before: fix.before.clone(),
            after: fix.after.clone(),
        });
    }

    let mut reprotects: Vec<&Reprotect> = config.reprotects.iter().collect();
    reprotects.sort_by(|a, b| a.address.cmp(&b.address));
    for reprotect in reprotects {
        match classify(config, observed, reprotect) {
            Verdict::NotPlanned(reason) => out.not_planned.push(NotPlanned {
                address: reprotect.address.clone(),
                reason,
            }),
            Verdict::Unchanged => out.unchanged.push(reprotect.address.clone()),
            Verdict::Drifted(drift) => out.drift.push(drift),
            Verdict::Reprotect(planned) => {
                let mut depends_on: Vec<String> = fix_ids
                    .iter()
                    .filter(|(address, _)| {
                        address == &reprotect.address || address == &reprotect.master_target.target
                    })
                    .map(|(_, id)| id.clone())
                    .collect();
                if planned.agent_registered {
                    // Registered: nothing to wait for.
                } else {
                    let id = unique_id(&mut ids, &reprotect.address, kinds::WAIT_FOR_AGENT);
                    let timeout_s = u64::from(config.settings.agent_wait_timeout_minutes) * 60;
                    out.actions.push(PlannedAction {
                        id: id.clone(),
                        address: reprotect.address.clone(),
                        kind: kinds::WAIT_FOR_AGENT.to_owned(),
                        change: ChangeKind::Read,
                        provider: planned.vault.clone(),
                        action: ProviderAction::WaitForAgent {
                            protected_item_id: planned.request.protected_item_id.clone(),
                            timeout_s,
                        },
                        depends_on: Vec::new(),
                        unit: None,
                        destructive: false,
                        reason: "the item's agent has not registered with the configuration \
                                 server yet; reprotect would fail with \"agent not \
                                 installed\" (FB117)"
                            .to_owned(),
                        before: json!({ "agent": "not registered" }),
                        after: json!({ "agent": "registered", "timeout": format!("{}m", timeout_s / 60) }),
                    });
                    depends_on.push(id);
                }
                let id = unique_id(&mut ids, &reprotect.address, kinds::REPROTECT);
                out.actions.push(PlannedAction {
                    id,
                    address: reprotect.address.clone(),
                    kind: kinds::REPROTECT.to_owned(),
                    change: ChangeKind::Create,
                    provider: planned.vault,
                    action: ProviderAction::Reprotect(planned.request),
                    depends_on,
                    unit: None,
                    destructive: false,
                    reason: planned.reason,
                    before: planned.before,
                    after: planned.after,
                });
            }
        }
    }
    out
}

/// The dotted type name of a provider action.
pub(super) fn action_kind(action: &ProviderAction) -> &'static str {
    match action {
        ProviderAction::VmSetExtraConfig { .. } => kinds::SET_EXTRA_CONFIG,
        ProviderAction::VmRemoveSnapshots { .. } => kinds::REMOVE_SNAPSHOTS,
        ProviderAction::Reprotect(_) => kinds::REPROTECT,
        ProviderAction::WaitForAgent { .. } => kinds::WAIT_FOR_AGENT,
    }
}

fn unique_id(ids: &mut BTreeSet<String>, address: &Address, kind: &str) -> String {
    let base = format!("{address}/{kind}");
    let mut id = base.clone();
    let mut n = 2;
    while ids.contains(&id) {
        id = format!("{base}#{n}");
        n += 1;
    }
    ids.insert(id.clone());
    id
}

enum Verdict {
    Reprotect(PlannedReprotect),
    Unchanged,
    Drifted(ResourceDrift),
    NotPlanned(String),
}

struct PlannedReprotect {
    vault: String,
    request: ReprotectRequest,
    agent_registered: bool,
    reason: String,
    before: Value,
    after: Value,
}

/// The chain reprotect → process server → configuration server → vault → fabric →
/// protected item, each link with the reason it is missing.
struct Located<'a> {
    vault_address: String,
    inventory: &'a VaultInventory,
    fabric: &'a Fabric,
    item: &'a ProtectedItem,
}

fn eq(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

fn locate<'a>(
    config: &Config,
    observed: &'a Observed,
    reprotect: &Reprotect,
) -> Result<Located<'a>, String> {
    let ps_address = &reprotect.process_server.target;
    let process_server = config
        .process_server(ps_address)
        .ok_or_else(|| format!("{ps_address} is not declared"))?;
    let cs_address = &process_server.configuration_server.target;
    let configuration_server = config
        .configuration_server(cs_address)
        .ok_or_else(|| format!("{cs_address} is not declared"))?;
    let vault_address = configuration_server.vault.target.to_string();
    let inventory = observed
        .vaults
        .get(&vault_address)
        .ok_or_else(|| format!("{vault_address} was not discovered"))?;
    let fabric = inventory
        .fabrics
        .iter()
        .find(|fabric| eq(&fabric.name, &configuration_server.fabric))
        .ok_or_else(|| {
            format!(
                "{vault_address} has no configuration server (fabric) named {:?}",
                configuration_server.fabric
            )
        })?;
    let item = inventory
        .protected_items
        .iter()
        .find(|item| eq(&item.name, &reprotect.protected_item))
        .or_else(|| {
            inventory
                .protected_items
                .iter()
                .find(|item| eq(&item.friendly_name, &reprotect.protected_item))
        })
        .ok_or_else(|| {
            format!(
                "{vault_address} has no protected item named {:?}",
                reprotect.protected_item
            )
        })?;
    Ok(Located {
        vault_address,
        inventory,
        fabric,
        item,
    })
}

/// The values the configuration declares for a reprotect, by name.
struct Declared {
    master_target: String,
    retention_volume: String,
    datastore: Option<String>,
}

fn declared(config: &Config, reprotect: &Reprotect) -> Result<Declared, String> {
    let mt_address = &reprotect.master_target.target;
    let master_target = config
        .master_target(mt_address)
        .ok_or_else(|| format!("{mt_address} is not declared"))?;
    let datastore = reprotect.datastore.clone().or_else(|| {
        config
            .recovery_plans
            .iter()
            .filter(|plan| {
                plan.members
                    .iter()
                    .any(|member| member.target == reprotect.address)
            })
            .find_map(|plan| plan.datastore.clone())
    });
    Ok(Declared {
        master_target: master_target.server_name.clone(),
        retention_volume: reprotect
            .retention_volume
            .clone()
            .unwrap_or_else(|| master_target.retention_volume.clone()),
        datastore,
    })
}

fn classify(config: &Config, observed: &Observed, reprotect: &Reprotect) -> Verdict {
    let located = match locate(config, observed, reprotect) {
        Ok(located) => located,
        Err(reason) => return Verdict::NotPlanned(reason),
    };
    let declared = match declared(config, reprotect) {
        Ok(declared) => declared,
        Err(reason) => return Verdict::NotPlanned(reason),
    };
    let item = located.item;
    let state = item.protection_state.as_str();
    if eq(state, UNPLANNED_FAILOVER_COMMITTED) {
        if !item
            .allowed_operations
            .iter()
            .any(|op| eq(op, REVERSE_REPLICATE))
        {
            return Verdict::NotPlanned(format!(
                "protected item {:?} is {state} but ASR does not allow ReverseReplicate \
                 on it now (allowed: {}) (FB129)",
                item.name,
                list_or_none(&item.allowed_operations)
            ));
        }
        return match reprotect_request(config, &located, reprotect, &declared) {
            Ok(planned) => Verdict::Reprotect(planned),
            Err(reason) => Verdict::NotPlanned(reason),
        };
    }
    let reverse = item
        .instance_type
        .as_deref()
        .is_some_and(|kind| eq(kind, REVERSE_INSTANCE_TYPE));
    if eq(state, PROTECTED) && reverse {
        return compare_reverse(&located, reprotect, &declared);
    }
    if eq(state, PROTECTED) {
        return Verdict::NotPlanned(format!(
            "protected item {:?} is still protected towards Azure: fail it over and \
             commit the failover first (FB129)",
            item.name
        ));
    }
    Verdict::NotPlanned(format!(
        "protected item {:?} is {state}: there is nothing to reprotect until its failover \
         to Azure is committed (FB129)",
        item.name
    ))
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_owned()
    } else {
        items.join(", ")
    }
}

/// An item protected in the reverse direction: unchanged when it uses the declared
/// master target, retention volume and datastore, drifted otherwise. A value the
/// vault does not report cannot be compared and is not called drift.
fn compare_reverse(located: &Located<'_>, reprotect: &Reprotect, declared: &Declared) -> Verdict {
    let Some(reverse) = &located.item.reverse else {
        return Verdict::Unchanged;
    };
    let mut attributes = Vec::new();
    let mut before = serde_json::Map::new();
    let mut after = serde_json::Map::new();
    if let Some(mt_id) = &reverse.master_target_id {
        let observed_name = located
            .fabric
            .master_targets
            .iter()
            .find(|mt| eq(&mt.id, mt_id))
            .map(|mt| mt.name.as_str())
            .unwrap_or_else(|| super::model::arm_name(mt_id));
        if !eq(observed_name, &declared.master_target) {
            attributes.push("master_target".to_owned());
            before.insert("master_target".into(), json!(observed_name));
            after.insert("master_target".into(), json!(declared.master_target));
        }
    }
    if let Some(volume) = &reverse.retention_volume
        && !eq(volume, &declared.retention_volume)
    {
        attributes.push("retention_volume".to_owned());
        before.insert("retention_volume".into(), json!(volume));
        after.insert("retention_volume".into(), json!(declared.retention_volume));
    }
    if let (Some(observed), Some(wanted)) = (&reverse.datastore, &declared.datastore)
        && !eq(observed, wanted)
    {
        attributes.push("datastore".to_owned());
        before.insert("datastore".into(), json!(observed));
        after.insert("datastore".into(), json!(wanted));
    }
    if attributes.is_empty() {
        return Verdict::Unchanged;
    }
    Verdict::Drifted(ResourceDrift {
        address: reprotect.address.clone(),
        protected_item: located.item.name.clone(),
        reason: format!(
            "{} is already reprotected, but with another {}; failback cannot change \
             this in place: disable replication and reprotect again, or declare what is \
             there",
            located.item.name,
            attributes.join(", ").replace('_', " ")
        ),
        attributes,
        before: Value::Object(before),
        after: Value::Object(after),
    })
}

fn reprotect_request(
    config: &Config,
    located: &Located<'_>,
    reprotect: &Reprotect,
    declared: &Declared,
) -> Result<PlannedReprotect, String> {
    let fabric = located.fabric;
    let item = located.item;
    let vault = &located.vault_address;
    let master_target = fabric
        .master_targets
        .iter()
        .find(|mt| eq(&mt.name, &declared.master_target))
        .ok_or_else(|| {
            format!(
                "configuration server {:?} reports no master target named {:?}",
                fabric.name, declared.master_target
            )
        })?;
    let ps_address = &reprotect.process_server.target;
    let ps_name = config
        .process_server(ps_address)
        .map(|ps| ps.server_name.clone())
        .ok_or_else(|| format!("{ps_address} is not declared"))?;
    let process_server = fabric
        .process_servers
        .iter()
        .find(|ps| eq(&ps.friendly_name, &ps_name))
        .ok_or_else(|| {
            format!(
                "configuration server {:?} reports no process server named {ps_name:?}",
                fabric.name
            )
        })?;
    let datastore = declared
        .datastore
        .clone()
        .ok_or_else(|| format!("{} names no datastore (FB118)", reprotect.address))?;
    let run_as_account_id = match &reprotect.run_as_account {
        None => None,
        Some(name) => Some(
            fabric
                .run_as_accounts
                .iter()
                .find(|account| eq(&account.account_name, name))
                .map(|account| account.account_id.clone())
                .ok_or_else(|| {
                    format!(
                        "configuration server {:?} has no run-as account named {name:?}",
                        fabric.name
                    )
                })?,
        ),
    };
    let policy = failback_policy(config, located.inventory, item, reprotect)?;

    let request = ReprotectRequest {
        protected_item_id: item.id.clone(),
        master_target_id: master_target.id.clone(),
        process_server_id: process_server.id.clone(),
        retention_drive: declared.retention_volume.clone(),
        datastore_name: datastore.clone(),
        run_as_account_id,
        policy_id: policy.0.clone(),
    };
    Ok(PlannedReprotect {
        vault: vault.clone(),
        agent_registered: item.agent_last_heartbeat.is_some(),
        reason: format!(
            "{} is failed over to Azure and committed; replication back to \
             on-premises is not set up",
            item.name
        ),
        before: json!({
            "protection_state": item.protection_state,
            "active_location": item.active_location,
        }),
        after: json!({
            "protection_state": "Protected",
            "direction": "Azure to on-premises",
            "master_target": master_target.name,
            "process_server": process_server.friendly_name,
            "retention_volume": declared.retention_volume,
            "datastore": datastore,
            "policy": policy.1,
            "run_as_account": reprotect.run_as_account,
        }),
        request,
    })
}

/// The failback (InMage) policy: the declared one by name, or else the only one the
/// vault has, or else the one ASR made with the item's forward policy
/// (`<forward>-failback`).
fn failback_policy(
    config: &Config,
    inventory: &VaultInventory,
    item: &ProtectedItem,
    reprotect: &Reprotect,
) -> Result<(String, String), String> {
    let as_pair = |policy: &crate::observe::vault::Policy| (policy.id.clone(), policy.name.clone());
    if let Some(reference) = &reprotect.policy {
        let declared = config
            .failback_policy(&reference.target)
            .ok_or_else(|| format!("{} is not declared", reference.target))?;
        return inventory
            .policies
            .iter()
            .find(|policy| {
                eq(&policy.name, &declared.policy_name)
                    || eq(&policy.friendly_name, &declared.policy_name)
            })
            .map(as_pair)
            .ok_or_else(|| {
                format!(
                    "the vault has no policy named {:?} ({})",
                    declared.policy_name, reference.target
                )
            });
    }
    let failback: Vec<_> = inventory
        .policies
        .iter()
        .filter(|policy| eq(&policy.instance_type, REVERSE_INSTANCE_TYPE))
        .collect();
    if let [only] = failback.as_slice() {
        return Ok(as_pair(only));
    }
    let forward_name = item.policy_id.as_deref().and_then(|id| {
        inventory
            .policies
            .iter()
            .find(|policy| eq(&policy.id, id))
            .map(|policy| policy.name.clone())
    });
    if let Some(forward) = forward_name {
        let paired = format!("{forward}-failback");
        if let Some(policy) = failback.iter().find(|policy| eq(&policy.name, &paired)) {
            return Ok(as_pair(policy));
        }
    }
    if failback.is_empty() {
        Err(
            "the vault has no failback (InMage) policy; ASR creates one with the \
             forward replication policy"
                .to_owned(),
        )
    } else {
        Err(format!(
            "the vault has {} failback policies and none pairs with the item's forward \
             policy; name one with `policy = failback_policy.NAME`",
            failback.len()
        ))
    }
}
