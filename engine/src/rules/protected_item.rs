//! Rules about the protected item in the vault: the configuration server knows it
//! (FB106), its agent is connected (FB110) and registered (FB117), it is not a physical
//! Windows Server 2008 R2 (FB126), and it is in a state that allows reprotect (FB129).
//!
//! [`reprotect_readiness`] and [`agent_registered`] are shared with the planner, which
//! turns an already reprotected item into "no change" and an unregistered agent into a
//! wait-for-agent step.

use super::catalogue::{FB106, FB110, FB117, FB126, FB129};
use super::wording::{counted, without_full_stop};
use super::{Context, Finding, Subject, os_family, require, same};
use crate::config::OsFamily;
use crate::observe::vault::ProtectedItem;

/// The operation name of reprotect in ASR's API.
pub const REVERSE_REPLICATE: &str = "ReverseReplicate";

/// How old an agent's last heartbeat may be before it counts as disconnected: ASR's
/// own health monitoring raises its heartbeat errors after 15 minutes.
pub const HEARTBEAT_TIMEOUT_MINUTES: i64 = 15;

/// Where a protected item stands with respect to reprotect (FB129).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReprotectReadiness {
    /// Failed over, committed, and ASR allows `ReverseReplicate`.
    Ready,
    /// Already protected in the reverse direction: no change, not an error.
    AlreadyReprotected,
    /// A known state that does not allow reprotect; `why` says what to do.
    NotReady { why: &'static str },
    /// A state failback does not know.
    Unknown,
}

/// Where this item stands (free strings matched without case).
pub fn reprotect_readiness(item: &ProtectedItem) -> ReprotectReadiness {
    let state = item.protection_state.as_str();
    // Asked for only in the states that need it: this runs for every item in several
    // rules and in the planner.
    let allows_reprotect = || {
        item.allowed_operations
            .iter()
            .any(|operation| same(operation, REVERSE_REPLICATE))
    };
    let in_azure = || {
        item.active_location
            .as_deref()
            .is_some_and(|location| same(location, "Recovery"))
    };
    if same(state, "Protected") {
        let reverse = in_azure()
            || item.reverse.is_some()
            || item
                .instance_type
                .as_deref()
                .is_some_and(|kind| same(kind, "InMage"));
        return if reverse {
            ReprotectReadiness::AlreadyReprotected
        } else {
            ReprotectReadiness::NotReady {
                why: "the item still replicates to Azure: fail it over to Azure and commit \
                      the failover first",
            }
        };
    }
    if same(state, "UnplannedFailoverCommitted") || same(state, "FailoverCommitted") {
        return if allows_reprotect() {
            ReprotectReadiness::Ready
        } else {
            ReprotectReadiness::NotReady {
                why: "ASR does not allow reprotect now: wait for the item's running job to \
                      finish and look at its health errors in the vault",
            }
        };
    }
    if same(state, "UnplannedFailoverCommitPendingStatesBegin") {
        return ReprotectReadiness::NotReady {
            why: "the failover is not committed yet: commit it in the vault first",
        };
    }
    if same(state, "UnplannedFailoverFailed") || same(state, "PlannedFailoverFailed") {
        return ReprotectReadiness::NotReady {
            why: "the failover failed: repair it in the vault before reprotecting",
        };
    }
    if same(state, "UnprotectedStatesBegin") || same(state, "Unprotected") {
        return ReprotectReadiness::NotReady {
            why: "the item is not protected: there is nothing to reprotect",
        };
    }
    ReprotectReadiness::Unknown
}

/// Whether the item's agent has registered with the configuration server (FB117):
/// until it has, reprotect fails with "agent not installed".
pub fn agent_registered(item: &ProtectedItem) -> bool {
    item.agent_last_heartbeat.is_some()
}

/// The item's protection state as the portal shows it: the vault's own description
/// when it gives one ("Failover completed"), else the state in words.
fn state_in_words(item: &ProtectedItem) -> String {
    if let Some(description) = item
        .protection_state_description
        .as_deref()
        .map(str::trim)
        .filter(|d| !d.is_empty())
    {
        return format!("\"{}\"", description.trim_end_matches('.'));
    }
    const STATES: [(&str, &str); 8] = [
        ("Protected", "protected"),
        ("UnplannedFailoverCommitted", "failed over and committed"),
        ("FailoverCommitted", "failed over and committed"),
        (
            "UnplannedFailoverCommitPendingStatesBegin",
            "failed over, commit pending",
        ),
        ("UnplannedFailoverFailed", "failover failed"),
        ("PlannedFailoverFailed", "failover failed"),
        ("UnprotectedStatesBegin", "not protected"),
        ("Unprotected", "not protected"),
    ];
    STATES
        .iter()
        .find(|(raw, _)| same(raw, &item.protection_state))
        .map_or_else(
            || item.protection_state.clone(),
            |(_, words)| format!("\"{words}\""),
        )
}

fn describe_state(item: &ProtectedItem) -> String {
    let mut text = format!("protectionState {}", item.protection_state);
    if let Some(description) = &item.protection_state_description {
        text.push_str(&format!(" ({description})"));
    }
    if let Some(location) = &item.active_location {
        text.push_str(&format!(", activeLocation {location}"));
    }
    text.push_str(&format!(
        ", allowedOperations [{}]",
        item.allowed_operations.join(", ")
    ));
    text
}

/// FB106: the protected item must belong to the declared configuration server and be
/// in its database (one of its protection containers).
pub(super) fn fb106_configuration_server_knows_vm(
    context: &Context<'_>,
    findings: &mut Vec<Finding>,
) {
    for r in &context.resolution.reprotects {
        let subject = Subject::new(
            &FB106,
            &r.config.address,
            r.config.declared.span_of("protected_item"),
        );
        let item = require!(r.protected_item, subject, findings);
        let fabric = require!(r.fabric, subject, findings);
        let cs = require!(r.configuration_server, subject, findings);
        if !same(&item.fabric, &fabric.name) {
            findings.push(subject.violated(
                format!(
                    "protected item {} belongs to configuration server {}, not to {} ({})",
                    item.name, item.fabric, cs.address, fabric.name
                ),
                Some(format!("item fabric {}", item.fabric)),
                format!(
                    "use a master target of the configuration server that protects {}",
                    item.friendly_name
                ),
            ));
            continue;
        }
        if fabric.protection_containers.is_empty() {
            findings.push(subject.unknown(format!(
                "the vault reports no protection containers for configuration server {}",
                fabric.name
            )));
            continue;
        }
        let known = fabric
            .protection_containers
            .iter()
            .any(|container| same_resource(container, &item.protection_container));
        if !known {
            findings.push(subject.violated(
                format!(
                    "configuration server {} does not know protected item {} (its container \
                     {} is not the configuration server's); failback fails",
                    fabric.name, item.name, item.protection_container
                ),
                Some(format!(
                    "protection container {}",
                    item.protection_container
                )),
                "restore the configuration server (same IP address) from its backup so that \
                 its database knows the VM",
            ));
        }
    }
}

/// ARM ids compared without case; a bare name matches the last segment of an id.
fn same_resource(a: &str, b: &str) -> bool {
    let last = |id: &str| id.rsplit('/').next().unwrap_or(id).to_owned();
    same(a, b) || same(&last(a), &last(b))
}

/// FB110: the failed-over VM's agent must be connected to the configuration server.
pub(super) fn fb110_agent_connected(context: &Context<'_>, findings: &mut Vec<Finding>) {
    const CONNECTIVITY_WORDS: [&str; 7] = [
        "heartbeat",
        "not connected",
        "connectivity",
        "unreachable",
        "not reachable",
        "cannot reach",
        "communicat",
    ];
    for r in &context.resolution.reprotects {
        let subject = Subject::new(&FB110, &r.config.address, &r.config.declared.span);
        let item = require!(r.protected_item, subject, findings);
        let connectivity_errors: Vec<String> = item
            .health_errors
            .iter()
            .filter(|error| {
                error
                    .level
                    .as_deref()
                    .is_none_or(|level| same(level, "Error"))
            })
            .filter(|error| {
                let text = format!("{} {}", error.code, error.message).to_lowercase();
                CONNECTIVITY_WORDS.iter().any(|word| text.contains(word))
            })
            .map(|error| format!("{}: {}", error.code, without_full_stop(&error.message)))
            .collect();
        if !connectivity_errors.is_empty() {
            findings.push(subject.violated(
                format!(
                    "the agent of {} cannot reach the configuration server",
                    item.friendly_name
                ),
                Some(connectivity_errors.join("; ")),
                "let the VM in Azure reach the configuration server and process server \
                 (site-to-site VPN or ExpressRoute private peering, port 443 and 9443)",
            ));
            continue;
        }
        let Some(heartbeat) = item.agent_last_heartbeat else {
            // FB117 reports this case for a reprotect that will run, and apply waits for
            // the registration, which is itself the proof of connectivity.
            if reprotect_readiness(item) != ReprotectReadiness::Ready {
                findings.push(subject.unknown(format!(
                    "the agent of {} has not registered with the configuration server",
                    item.friendly_name
                )));
            }
            continue;
        };
        let Some(age) = context.stale_heartbeat(&subject, heartbeat, findings) else {
            continue;
        };
        findings.push(subject.violated(
            format!(
                "the agent of {} last reached the configuration server {} minutes before \
                 discovery",
                item.friendly_name,
                age.num_minutes()
            ),
            Some(format!("agent last heartbeat {}", heartbeat.to_rfc3339())),
            "check that the VM in Azure runs and reaches the configuration server and \
             process server (site-to-site VPN or ExpressRoute private peering)",
        ));
    }
}

/// FB117: an agent that has not registered yet makes reprotect fail; apply waits.
pub(super) fn fb117_agent_registered(context: &Context<'_>, findings: &mut Vec<Finding>) {
    for r in &context.resolution.reprotects {
        let subject = Subject::new(&FB117, &r.config.address, &r.config.declared.span);
        let item = require!(r.protected_item, subject, findings);
        if agent_registered(item) || reprotect_readiness(item) != ReprotectReadiness::Ready {
            continue;
        }
        findings.push(subject.violated(
            format!(
                "the agent of {} has not registered with the configuration server yet; apply \
                 waits up to {} for it before reprotecting",
                item.friendly_name,
                counted(
                    context.config.settings.agent_wait_timeout_minutes as usize,
                    "minute"
                )
            ),
            Some("agent not registered".to_owned()),
            "nothing to do: agents register within about 15 minutes of the VM starting in \
             Azure (raise `agent_wait_timeout_minutes` in the failback block if needed)",
        ));
    }
}

/// FB126: Windows Server 2008 R2 SP1 protected as a physical machine cannot fail back.
pub(super) fn fb126_not_physical_2008_r2(context: &Context<'_>, findings: &mut Vec<Finding>) {
    for r in &context.resolution.reprotects {
        let subject = Subject::new(&FB126, &r.config.address, &r.config.declared.span);
        let item = require!(r.protected_item, subject, findings);
        if item
            .os_type
            .as_deref()
            .and_then(os_family)
            .is_some_and(|family| family == OsFamily::Linux)
        {
            continue;
        }
        let is_2008_r2 = item.os_name.as_deref().map(|name| {
            let squashed: String = name
                .to_lowercase()
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect();
            squashed.contains("2008r2")
        });
        match (item.machine_type.as_deref(), is_2008_r2) {
            (Some(kind), _) if same(kind, "VMware") => {}
            (_, Some(false)) => {}
            (Some(kind), Some(true)) if same(kind, "Physical") => {
                findings.push(subject.violated(
                    format!(
                        "{} runs Windows Server 2008 R2 and is protected as a physical \
                         machine: it cannot fail back to on-premises",
                        item.friendly_name
                    ),
                    Some(format!(
                        "machine type {kind}, OS {}",
                        item.os_name.as_deref().unwrap_or_default()
                    )),
                    "keep it in Azure, or rebuild it on-premises and migrate the data",
                ));
            }
            (Some(kind), _) if !same(kind, "Physical") => {
                findings.push(subject.unknown(format!(
                    "protected item {} has machine type {kind:?}, neither VMware nor Physical",
                    item.name
                )));
            }
            (None, _) => findings.push(subject.unknown(format!(
                "the vault reports no machine type for protected item {}",
                item.name
            ))),
            (Some(_), _) => findings.push(subject.unknown(format!(
                "the vault reports no OS name for physical machine {}",
                item.name
            ))),
        }
    }
}

/// FB129: the item must be failed over and committed with `ReverseReplicate` allowed;
/// an item already reprotected is no change (the planner shows it so).
pub(super) fn fb129_ready_for_reprotect(context: &Context<'_>, findings: &mut Vec<Finding>) {
    for r in &context.resolution.reprotects {
        let subject = Subject::new(
            &FB129,
            &r.config.address,
            r.config.declared.span_of("protected_item"),
        );
        let item = match &r.protected_item {
            Ok(item) => *item,
            Err(missing)
                if missing.is_absent()
                    || missing.kind == crate::resolve::UnresolvedKind::Ambiguous =>
            {
                findings.push(subject.violated(
                    missing.reason.clone(),
                    None,
                    "name the protected item as the vault shows it (its name or friendly \
                     name) in `protected_item`",
                ));
                continue;
            }
            Err(missing) => {
                findings.push(subject.unresolved(missing));
                continue;
            }
        };
        match reprotect_readiness(item) {
            ReprotectReadiness::Ready | ReprotectReadiness::AlreadyReprotected => {}
            ReprotectReadiness::NotReady { why } => findings.push(subject.violated(
                format!(
                    "protected item {} is in state {}, which does not allow reprotect",
                    item.name,
                    state_in_words(item)
                ),
                Some(describe_state(item)),
                why,
            )),
            ReprotectReadiness::Unknown => findings.push(subject.unknown(format!(
                "protected item {} is in state {:?}, which failback does not know ({})",
                item.name,
                item.protection_state,
                describe_state(item)
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use crate::observe::vault::{HealthError, ReverseReplication};
    use crate::resolve::fixture::seconds_ago;

    #[test]
    fn fb106_holds_for_an_item_of_the_configuration_server() {
        assert_holds(&TestWorld::healthy(), "FB106");
    }

    #[test]
    fn fb106_is_violated_by_another_fabric_or_an_unknown_container() {
        let mut world = TestWorld::healthy();
        world.item_mut("web01-item").fabric = "cs02".to_owned();
        world.item_mut("db01-item").protection_container = "cloud_9".to_owned();
        assert_violated(&world, "FB106", "reprotect.web01");
        assert_violated(&world, "FB106", "reprotect.db01");
    }

    #[test]
    fn fb106_cannot_be_checked_without_containers() {
        let mut world = TestWorld::healthy();
        world.fabric_mut().protection_containers.clear();
        assert_unknown(&world, "FB106", "reprotect.web01");
    }

    #[test]
    fn fb110_holds_for_a_fresh_heartbeat() {
        assert_holds(&TestWorld::healthy(), "FB110");
    }

    #[test]
    fn fb110_is_violated_by_a_stale_heartbeat_or_a_connectivity_error() {
        let mut world = TestWorld::healthy();
        world.item_mut("web01-item").agent_last_heartbeat = seconds_ago(47 * 60);
        world.item_mut("db01-item").health_errors.push(HealthError {
            code: "78080".to_owned(),
            message: "No heartbeat from the agent".to_owned(),
            level: Some("Error".to_owned()),
            ..HealthError::default()
        });
        let finding = assert_violated(&world, "FB110", "reprotect.web01");
        assert!(finding.message.ends_with("47 minutes before discovery"));
        let finding = assert_violated(&world, "FB110", "reprotect.db01");
        assert_eq!(
            finding.observed.as_deref(),
            Some("78080: No heartbeat from the agent")
        );
    }

    #[test]
    fn fb110_cannot_be_checked_before_registration_or_without_a_time() {
        let mut world = TestWorld::healthy();
        world.item_mut("web01-item").agent_last_heartbeat = None;
        world.item_mut("web01-item").protection_state = "Unknown".to_owned();
        world.observed.observed_at = None;
        assert_eq!(
            assert_unknown(&world, "FB110", "reprotect.web01"),
            "the agent of web01 has not registered with the configuration server"
        );
        assert_eq!(
            assert_unknown(&world, "FB110", "reprotect.db01"),
            "the observation records no time of discovery"
        );
    }

    #[test]
    fn fb110_defers_to_fb117_for_an_item_about_to_be_reprotected() {
        let mut world = TestWorld::healthy();
        world.item_mut("web01-item").agent_last_heartbeat = None;
        assert_holds(&world, "FB110");
        assert_violated(&world, "FB117", "reprotect.web01");
    }

    #[test]
    fn fb117_holds_for_a_registered_agent() {
        assert_holds(&TestWorld::healthy(), "FB117");
    }

    #[test]
    fn fb117_advises_that_apply_waits() {
        let mut world = TestWorld::healthy();
        world.item_mut("web01-item").agent_last_heartbeat = None;
        let finding = assert_violated(&world, "FB117", "reprotect.web01");
        assert_eq!(finding.severity, crate::rules::Severity::Advice);
        assert!(finding.message.contains("waits up to 20 minutes"));
        assert!(!finding.blocks());
        assert!(!agent_registered(
            &world.observed.vaults["vault.dr"].protected_items[0]
        ));
    }

    #[test]
    fn fb117_cannot_be_checked_without_the_vault() {
        let mut world = TestWorld::healthy();
        world.observed.vaults.clear();
        assert_unknown(&world, "FB117", "reprotect.web01");
    }

    #[test]
    fn fb126_holds_for_vmware_machines() {
        let mut world = TestWorld::healthy();
        world.item_mut("web01-item").os_name = Some("Windows Server 2008 R2 SP1".to_owned());
        assert_holds(&world, "FB126");
    }

    #[test]
    fn fb126_is_violated_by_a_physical_2008_r2() {
        let mut world = TestWorld::healthy();
        world.item_mut("web01-item").os_name = Some("Windows Server 2008R2 SP1".to_owned());
        world.item_mut("web01-item").machine_type = Some("physical".to_owned());
        assert_violated(&world, "FB126", "reprotect.web01");
    }

    #[test]
    fn fb126_cannot_be_checked_without_os_name_for_a_physical_machine() {
        let mut world = TestWorld::healthy();
        world.item_mut("web01-item").machine_type = Some("Physical".to_owned());
        assert_eq!(
            assert_unknown(&world, "FB126", "reprotect.web01"),
            "the vault reports no OS name for physical machine web01-item"
        );
    }

    #[test]
    fn fb129_holds_when_ready_or_already_reprotected() {
        let mut world = TestWorld::healthy();
        assert_holds(&world, "FB129");
        let item = world.item_mut("web01-item");
        item.protection_state = "protected".to_owned();
        item.instance_type = Some("InMage".to_owned());
        item.reverse = Some(ReverseReplication::default());
        assert_holds(&world, "FB129");
        assert_eq!(
            reprotect_readiness(&world.observed.vaults["vault.dr"].protected_items[0]),
            ReprotectReadiness::AlreadyReprotected
        );
    }

    #[test]
    fn fb129_is_violated_before_commit_and_without_reverse_replicate() {
        let mut world = TestWorld::healthy();
        let item = world.item_mut("web01-item");
        item.protection_state = "UnplannedFailoverCommitPendingStatesBegin".to_owned();
        item.protection_state_description = Some("Failover completed".to_owned());
        item.allowed_operations = vec!["Commit".to_owned(), "ChangePit".to_owned()];
        world.item_mut("db01-item").allowed_operations = vec!["DisableProtection".to_owned()];
        // Without the vault's description, the state is put in words.
        world.item_mut("db01-item").protection_state_description = None;
        let finding = assert_violated(&world, "FB129", "reprotect.web01");
        assert_eq!(
            finding.observed.as_deref(),
            Some(
                "protectionState UnplannedFailoverCommitPendingStatesBegin (Failover completed), \
                 activeLocation Recovery, allowedOperations [Commit, ChangePit]"
            )
        );
        // The portal's words in the message; the API's value stays in `observed`.
        assert_eq!(
            finding.message,
            "protected item web01-item is in state \"Failover completed\", which does not \
             allow reprotect"
        );
        let finding = assert_violated(&world, "FB129", "reprotect.db01");
        assert!(
            finding
                .message
                .contains("in state \"failed over and committed\""),
            "{}",
            finding.message
        );
    }

    #[test]
    fn fb129_is_violated_by_a_missing_item() {
        let mut world = TestWorld::healthy();
        world.reprotect_mut("web01").protected_item = "web02".to_owned();
        let finding = assert_violated(&world, "FB129", "reprotect.web01");
        assert!(finding.message.starts_with("no protected item named web02"));
    }

    #[test]
    fn fb129_cannot_be_checked_for_an_unknown_state() {
        let mut world = TestWorld::healthy();
        world.item_mut("web01-item").protection_state = "ReprotectPending".to_owned();
        assert!(
            assert_unknown(&world, "FB129", "reprotect.web01").contains("\"ReprotectPending\"")
        );
        let mut world = TestWorld::healthy();
        world.observed.vaults.clear();
        assert_unknown(&world, "FB129", "reprotect.web01");
    }
}
