//! The diff: each declared reprotect against the protected item the vault reports,
//! giving the actions to take (with their direct prerequisites), the reprotects done
//! as declared, those that drifted, and those that cannot be planned, with why.
//!
//! The chain from each reprotect to the vault is followed by [`crate::resolve`], the
//! same resolution the rules use, so a missing link has one reason everywhere. The
//! rules report missing links as findings; here a missing link only keeps an action
//! out of the plan, with its reason, so that nothing disappears silently.

use std::collections::BTreeSet;

use foldhash::{HashMap, HashMapExt as _};

use serde_json::{Value, json};

use crate::config::{Address, Config};
use crate::observe::Observed;
use crate::observe::vault::ProtectedItem;
use crate::provider::{ProviderAction, ReprotectRequest};
use crate::resolve::{Link, ResolvedReprotect, normalize_volume, resolve};
use crate::rules::{ReprotectReadiness, reprotect_readiness};

use super::Fix;
use super::model::{ChangeKind, NotPlanned, PlannedAction, ResourceDrift, kinds};

/// The states in which a failover to Azure is committed.
const COMMITTED_STATES: &[&str] = &["UnplannedFailoverCommitted", "FailoverCommitted"];
const PROTECTED: &str = "Protected";

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

    // Fix ids by the address they fix, each with its place among the sorted fixes: a
    // reprotect looks up its own fixes and its master target's instead of scanning
    // every fix.
    let mut fix_ids: HashMap<&Address, Vec<(usize, String)>> = HashMap::new();
    let mut sorted_fixes: Vec<&Fix> = fixes.iter().collect();
    sorted_fixes.sort_by(|a, b| {
        (&a.address, &a.rule, &a.provider).cmp(&(&b.address, &b.rule, &b.provider))
    });
    for (position, fix) in sorted_fixes.into_iter().enumerate() {
        let kind = action_kind(&fix.action);
        let id = unique_id(&mut ids, &fix.address, kind);
        let change = match fix.action {
            ProviderAction::VmRemoveSnapshots { .. } => ChangeKind::Delete,
            ProviderAction::WaitForAgent { .. } => ChangeKind::Read,
            ProviderAction::Reprotect(_) => ChangeKind::Create,
            ProviderAction::VmSetExtraConfig { .. } => ChangeKind::Update,
        };
        fix_ids
            .entry(&fix.address)
            .or_default()
            .push((position, id.clone()));
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
            rule: Some(fix.rule.clone()),
            reason: format!("{} ({})", fix.reason, fix.rule),
            before: fix.before.clone(),
            after: fix.after.clone(),
        });
    }

    let resolution = resolve(config, observed);
    let mut reprotects: Vec<&ResolvedReprotect<'_>> = resolution.reprotects.iter().collect();
    reprotects.sort_by(|a, b| a.config.address.cmp(&b.config.address));
    for resolved in reprotects {
        let reprotect = resolved.config;
        match classify(resolved) {
            Verdict::NotPlanned(reason) => out.not_planned.push(NotPlanned {
                address: reprotect.address.clone(),
                reason,
            }),
            Verdict::Unchanged => out.unchanged.push(reprotect.address.clone()),
            Verdict::Drifted(drift) => out.drift.push(drift),
            Verdict::Reprotect(planned) => {
                let mut depends_on = fixes_for(
                    &fix_ids,
                    &reprotect.address,
                    &reprotect.master_target.target,
                );
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
                        rule: Some("FB117".to_owned()),
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
                    rule: None,
                    reason: planned.reason,
                    before: planned.before,
                    after: planned.after,
                });
            }
        }
    }
    out
}

/// The ids of the fixes of a reprotect's own object and of its master target, in the
/// order of the sorted fixes.
fn fixes_for(
    fix_ids: &HashMap<&Address, Vec<(usize, String)>>,
    reprotect: &Address,
    master_target: &Address,
) -> Vec<String> {
    let own = fix_ids
        .get(reprotect)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let of_master_target = if master_target == reprotect {
        &[]
    } else {
        fix_ids
            .get(master_target)
            .map(Vec::as_slice)
            .unwrap_or_default()
    };
    let mut ids: Vec<&(usize, String)> = own.iter().chain(of_master_target).collect();
    ids.sort_by_key(|(position, _)| *position);
    ids.into_iter().map(|(_, id)| id.clone()).collect()
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

/// `ADDRESS/KIND`, `#N` appended on a repeat (read back by
/// [`super::model::address_of_action_id`]).
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

fn eq(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// The link, or the reason it is missing, as one sentence for `not_planned`.
fn need<'a, T: ?Sized>(link: &Link<'a, T>) -> Result<&'a T, String> {
    link.as_ref()
        .map(|found| *found)
        .map_err(|missing| missing.reason.clone())
}

fn classify(resolved: &ResolvedReprotect<'_>) -> Verdict {
    let item = match need(&resolved.protected_item) {
        Ok(item) => item,
        Err(reason) => return Verdict::NotPlanned(reason),
    };
    // Whether the item can be reprotected is the rules' decision (FB129), made once
    // in `reprotect_readiness`; here it only picks the verdict and the words.
    match reprotect_readiness(item) {
        ReprotectReadiness::Ready => match reprotect_request(resolved, item) {
            Ok(planned) => Verdict::Reprotect(planned),
            Err(reason) => Verdict::NotPlanned(reason),
        },
        ReprotectReadiness::AlreadyReprotected => compare_reverse(resolved, item),
        ReprotectReadiness::NotReady { .. } | ReprotectReadiness::Unknown => {
            Verdict::NotPlanned(not_ready_reason(item))
        }
    }
}

/// Why an item that is not ready for reprotect keeps its reprotect out of the plan.
fn not_ready_reason(item: &ProtectedItem) -> String {
    let state = item.protection_state.as_str();
    if COMMITTED_STATES
        .iter()
        .any(|committed| eq(state, committed))
    {
        // Committed, so the only thing missing is ASR allowing the operation.
        return format!(
            "protected item {:?} is {state} but ASR does not allow ReverseReplicate \
             on it now (allowed: {}) (FB129)",
            item.name,
            list_or_none(&item.allowed_operations)
        );
    }
    if eq(state, PROTECTED) {
        return format!(
            "protected item {:?} is still protected towards Azure: fail it over and \
             commit the failover first (FB129)",
            item.name
        );
    }
    format!(
        "protected item {:?} is {state}: there is nothing to reprotect until its failover \
         to Azure is committed (FB129)",
        item.name
    )
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
/// vault does not report, or a declaration that does not resolve, cannot be compared
/// and is not called drift (the rules report what is missing).
fn compare_reverse(resolved: &ResolvedReprotect<'_>, item: &ProtectedItem) -> Verdict {
    let Some(reverse) = &item.reverse else {
        return Verdict::Unchanged;
    };
    let mut attributes = Vec::new();
    let mut before = serde_json::Map::new();
    let mut after = serde_json::Map::new();
    if let (Some(mt_id), Ok(declared)) = (&reverse.master_target_id, &resolved.master_target) {
        let observed_name = resolved
            .fabric
            .as_ref()
            .ok()
            .and_then(|fabric| fabric.master_targets.iter().find(|mt| eq(&mt.id, mt_id)))
            .map(|mt| mt.name.as_str())
            .unwrap_or_else(|| super::model::arm_name(mt_id));
        if !eq(observed_name, &declared.server_name) {
            attributes.push("master_target".to_owned());
            before.insert("master_target".into(), json!(observed_name));
            after.insert("master_target".into(), json!(declared.server_name));
        }
    }
    if let (Some(volume), Ok(declared)) =
        (&reverse.retention_volume, &resolved.retention_volume_name)
        && normalize_volume(volume) != normalize_volume(declared)
    {
        attributes.push("retention_volume".to_owned());
        before.insert("retention_volume".into(), json!(volume));
        after.insert("retention_volume".into(), json!(declared));
    }
    if let (Some(observed), Ok(wanted)) = (&reverse.datastore, &resolved.datastore_name)
        && !eq(observed, wanted)
    {
        attributes.push("datastore".to_owned());
        before.insert("datastore".into(), json!(observed));
        after.insert("datastore".into(), json!(wanted));
    }
    if attributes.is_empty() {
        return Verdict::Unchanged;
    }
    let names: Vec<String> = attributes.iter().map(|a| a.replace('_', " ")).collect();
    Verdict::Drifted(ResourceDrift {
        address: resolved.config.address.clone(),
        protected_item: item.name.clone(),
        reason: format!(
            "{} is already reprotected, but with another {}; failback cannot change \
             this in place: disable replication and reprotect again, or declare what is \
             there",
            item.name,
            names.join(" and ")
        ),
        attributes,
        before: Value::Object(before),
        after: Value::Object(after),
    })
}

fn reprotect_request(
    resolved: &ResolvedReprotect<'_>,
    item: &ProtectedItem,
) -> Result<PlannedReprotect, String> {
    let reprotect = resolved.config;
    let configuration_server = need(&resolved.configuration_server)?;
    let fabric = need(&resolved.fabric)?;
    let master_target = need(&resolved.fabric_master_target)?;
    let process_server = need(&resolved.fabric_process_server)?;
    let datastore = need(&resolved.datastore_name).map_err(|reason| format!("{reason} (FB118)"))?;
    let retention_volume = need(&resolved.retention_volume_name)?;
    let policy = need(&resolved.policy)?;
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

    let request = ReprotectRequest {
        protected_item_id: item.id.clone(),
        master_target_id: master_target.id.clone(),
        process_server_id: process_server.id.clone(),
        retention_drive: retention_volume.to_owned(),
        datastore_name: datastore.to_owned(),
        run_as_account_id,
        policy_id: policy.id.clone(),
    };
    Ok(PlannedReprotect {
        vault: configuration_server.vault.target.to_string(),
        agent_registered: item.agent_last_heartbeat.is_some(),
        reason: format!(
            "{} is failed over to Azure and committed; replication back to \
             on-premises is not set up",
            item.name
        ),
        before: json!({ "protection_state": item.protection_state }),
        after: json!({
            "protection_state": "Protected",
            "direction": "Azure to on-premises",
            "master_target": master_target.name,
            "process_server": process_server.friendly_name,
            "retention_volume": retention_volume,
            "datastore": datastore,
            "policy": policy.name,
            "run_as_account": reprotect.run_as_account,
        }),
        request,
    })
}
