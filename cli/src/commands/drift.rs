//! `failback drift`: what changed outside failback since the last apply. It plans
//! against a fresh discovery and compares the result with the state (`detect`): a
//! reprotect the state records as applied that needs doing again (the item is no
//! longer protected), a reprotect in place with other values (a different master
//! target), a VM fix needed again (a snapshot back on a master target, disk.EnableUUID
//! reset), a violated rule, and what the applied reprotects replicate through turning
//! unhealthy (health turned critical, a heartbeat stopped).
//!
//! Meant for schedules: exit 0 clean, 2 drift, 1 error. Reports as text, JSON
//! (`docs/drift.md`) or Markdown.

mod detect;

use std::collections::{BTreeSet, HashSet};
use std::path::Path;

use failback_engine::config::Config;
use failback_engine::plan::{self, PlanMeta, PriorState, address_of_action_id};
use failback_engine::rules::wording::counted;
use failback_engine::state::{self, Outcome, State};

use crate::command_error::{CommandError, Exit};
use crate::commands::GlobalArgs;
use crate::commands::plan::{DISCOVERY_TIMEOUT, PlanWiring, default_wiring, discover};
use crate::progress::DiscoveryProgress;
use crate::ui::Ui;

pub use detect::{Change, DriftItem, compare, drift_kinds};

/// The version of the `--json` report. A reader accepts any `1.x`: minor bumps only
/// add fields.
pub const DRIFT_FORMAT_VERSION: &str = "1.2";

/// Report what changed outside failback since the last apply: items no longer
/// protected, health turned critical, snapshots back on a master target, heartbeats
/// stopped, disk.EnableUUID reset, a different master target.
///
/// Each change names the object, how failback left it, what is there now and what to
/// do. Only what failback applied (the state) can drift; it never writes state.
///
/// Exit codes: 0 no drift, 2 drift, 1 error.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub config: crate::commands::config_args::ConfigArgs,
    /// Print the report as JSON (one line; the fields are in docs/drift.md).
    #[arg(long, conflicts_with = "markdown")]
    pub json: bool,
    /// Print the report as Markdown (an issue or chat message).
    #[arg(long)]
    pub markdown: bool,
}

/// `failback drift`.
pub fn cmd_drift(ui: &mut Ui, global: &GlobalArgs, args: &Args) -> Result<Exit, CommandError> {
    let wiring = default_wiring();
    let (items, watched) = run_drift(
        wiring.as_ref(),
        &global.chdir,
        args,
        ui.discovery_progress(),
    )?;
    let text = if args.json {
        render_json(&items, &watched)
    } else if args.markdown {
        render_markdown(&items, &watched)
    } else {
        render_human(&items, &watched)
    };
    ui.write_data(&text);
    Ok(if items.is_empty() {
        Exit::Success
    } else {
        Exit::Changes
    })
}

/// Discovers, plans and compares with the state; returns the drift and what of the
/// state it watched.
pub fn run_drift(
    wiring: &dyn PlanWiring,
    dir: &Path,
    args: &Args,
    progress: DiscoveryProgress,
) -> Result<(Vec<DriftItem>, Watched), CommandError> {
    let inputs = args.config.inputs();
    let variables = crate::commands::plan::digest_inputs(dir, &inputs)?;
    let loaded = wiring.load(dir, &inputs)?;
    let config = &loaded.config;
    let backend = state::open_backend(&config.settings.state, dir)?;
    let current = backend.read()?;
    let prior = PriorState {
        lineage: current.as_ref().map(|s| s.lineage.to_string()),
        serial: current.as_ref().map_or(0, |s| s.serial),
    };
    let providers = wiring.providers(config)?;
    let started = wiring.now();
    let mut observed = discover(providers, DISCOVERY_TIMEOUT, progress)?;
    observed.observed_at = Some(started);
    let assessment = wiring.assess(config, &observed);
    let meta = PlanMeta {
        tool_version: env!("CARGO_PKG_VERSION").to_owned(),
        created_at: started,
        config_digest: plan::config_digest(&loaded.files, &variables),
    };
    let plan = plan::make_plan(config, observed, &prior, assessment, meta);
    let state = current.unwrap_or_else(|| State::new(env!("CARGO_PKG_VERSION")));
    Ok((compare(config, &plan, &state), Watched::of(config, &state)))
}

/// What of the state drift looked at: the applied changes whose address the
/// configuration still declares. One whose block is gone (a VM's failback finished and
/// its `reprotect` was removed) is not watched; saying so keeps "no drift" from
/// vouching for it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Watched {
    /// Applied changes at declared addresses.
    pub applied: usize,
    /// Addresses of applied changes the configuration no longer declares, sorted.
    pub undeclared: Vec<String>,
}

impl Watched {
    pub fn of(config: &Config, state: &State) -> Watched {
        let declared: HashSet<String> = config.block_addresses().map(ToString::to_string).collect();
        let mut watched = Watched::default();
        let mut undeclared = BTreeSet::new();
        for resource in state.resources.values() {
            if resource.outcome != Outcome::Applied {
                continue;
            }
            // A reprotect is recorded at its address, a fix under its action id.
            let block = address_of_action_id(&resource.address);
            if declared.contains(&resource.address) || declared.contains(block) {
                watched.applied += 1;
            } else {
                undeclared.insert(resource.address.clone());
            }
        }
        watched.undeclared = undeclared.into_iter().collect();
        watched
    }

    /// The note about undeclared addresses, if any: one line of text.
    fn undeclared_note(&self) -> Option<String> {
        match self.undeclared.as_slice() {
            [] => None,
            [address] => Some(format!(
                "Not watched: {address} is recorded as applied but no longer declared; \
                 `failback state rm {address}` forgets it."
            )),
            addresses => Some(format!(
                "Not watched: {} addresses are recorded as applied but no longer declared \
                 ({}); `failback state rm ADDRESS...` forgets them.",
                addresses.len(),
                addresses.join(", ")
            )),
        }
    }
}

/// What a clean report vouches for: `The 3 applied changes in the state are still in
/// place.`
fn in_place(watched: &Watched) -> String {
    match (watched.applied, watched.undeclared.is_empty()) {
        (0, true) => "The state records nothing applied.".to_owned(),
        (0, false) => "Nothing applied in the state is declared any more.".to_owned(),
        (1, _) => "The 1 applied change in the state is still in place.".to_owned(),
        (applied, _) => format!("The {applied} applied changes in the state are still in place."),
    }
}

fn render_human(items: &[DriftItem], watched: &Watched) -> String {
    let note = watched
        .undeclared_note()
        .map(|note| format!("{note}\n"))
        .unwrap_or_default();
    if items.is_empty() {
        return format!("No drift. {}\n{note}", in_place(watched));
    }
    let mut out = format!(
        "Drift: {} outside failback since the last apply.\n",
        counted(items.len(), "change")
    );
    for item in items {
        let rule = item
            .rule
            .as_deref()
            .map(|r| format!(" [{r}]"))
            .unwrap_or_default();
        out.push_str(&format!(
            "\n  ! {}: {}{rule}\n      {}: {} -> {}\n      {}\n      To do: {}\n",
            item.address,
            item.change.title(),
            item.object,
            item.before,
            item.after,
            item.message,
            item.remediation
        ));
    }
    out.push_str("\nRun `failback plan` to see what would bring it back, then `failback apply`.\n");
    if !note.is_empty() {
        out.push('\n');
        out.push_str(&note);
    }
    out
}

fn render_json(items: &[DriftItem], watched: &Watched) -> String {
    let report = serde_json::json!({
        "format_version": DRIFT_FORMAT_VERSION,
        "drift": !items.is_empty(),
        "applied_resources": watched.applied,
        "undeclared_resources": watched.undeclared,
        "items": items,
    });
    format!("{report}\n")
}

fn render_markdown(items: &[DriftItem], watched: &Watched) -> String {
    let note = watched
        .undeclared_note()
        .map(|note| format!("\n{note}\n"))
        .unwrap_or_default();
    if items.is_empty() {
        return format!("**failback drift**: none. {}\n{note}", in_place(watched));
    }
    let mut out = format!(
        "**failback drift**: {} outside failback since the last apply.\n\n\
         | address | change | rule | object | before | after | to do |\n\
         | --- | --- | --- | --- | --- | --- | --- |\n",
        counted(items.len(), "change")
    );
    for item in items {
        out.push_str(&format!(
            "| `{}` | {} | {} | {} | {} | {} | {} |\n",
            item.address,
            item.change.title(),
            item.rule.as_deref().unwrap_or(""),
            cell(&item.object),
            cell(&item.before),
            cell(&item.after),
            cell(&item.remediation)
        ));
    }
    out.push_str(&note);
    out
}

/// Text safe inside a Markdown table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use failback_engine::plan::{kinds, worlds};
    use failback_engine::state::ResourceState;

    use super::*;

    fn state_with(addresses: &[&str], outcome: Outcome) -> State {
        let mut state = State::new("test");
        for address in addresses {
            state
                .upsert(ResourceState {
                    address: (*address).to_owned(),
                    kind: kinds::REPROTECT.to_owned(),
                    inputs: serde_json::json!({}),
                    outcome: outcome.clone(),
                    remote_ids: Vec::new(),
                    started_at: Utc::now(),
                    finished_at: Some(Utc::now()),
                })
                .expect("no secret");
        }
        state
    }

    fn drift_of(world: &worlds::World, state: &State) -> Vec<DriftItem> {
        compare(&world.config, &world.plan(), state)
    }

    #[test]
    fn nothing_applied_is_never_drift() {
        let world = worlds::drift();
        assert_eq!(drift_of(&world, &State::new("test")), Vec::new());
    }

    #[test]
    fn everything_in_place_as_applied_is_no_drift() {
        let world = worlds::all_done();
        let state = state_with(&["reprotect.web01", "reprotect.app01"], Outcome::Applied);
        assert_eq!(drift_of(&world, &state), Vec::new());
    }

    #[test]
    fn an_applied_reprotect_needed_again_is_no_longer_protected() {
        let world = worlds::all_new();
        let state = state_with(&["reprotect.web01"], Outcome::Applied);
        let items = drift_of(&world, &state);
        let web01: Vec<_> = items
            .iter()
            .filter(|i| i.address == "reprotect.web01")
            .collect();
        assert_eq!(web01.len(), 1, "{items:?}");
        assert_eq!(web01[0].kind, drift_kinds::NO_LONGER_PROTECTED);
        assert_eq!(web01[0].change, Change::NoLongerProtected);
        assert_eq!(web01[0].object, "protected item web01");
        assert_eq!(web01[0].after, "UnplannedFailoverCommitted");
        // app01 and db01 were never applied: not drift.
        assert!(
            items
                .iter()
                .all(|i| i.change != Change::NoLongerProtected || i.address == "reprotect.web01")
        );
    }

    #[test]
    fn a_failed_reprotect_still_to_do_is_not_drift() {
        let world = worlds::all_new();
        let state = state_with(
            &["reprotect.web01"],
            Outcome::Failed {
                message: "job failed".to_owned(),
            },
        );
        let items = drift_of(&world, &state);
        assert!(
            items.iter().all(|i| i.change != Change::NoLongerProtected),
            "{items:?}"
        );
    }

    #[test]
    fn another_master_target_than_applied_is_a_different_master_target() {
        let world = worlds::drift();
        let state = state_with(&["reprotect.web01", "reprotect.db01"], Outcome::Applied);
        let items = drift_of(&world, &state);
        let db01 = items
            .iter()
            .find(|i| i.address == "reprotect.db01")
            .unwrap_or_else(|| panic!("db01 drifted: {items:?}"));
        assert_eq!(db01.kind, drift_kinds::VALUES_CHANGED);
        assert_eq!(db01.change, Change::MasterTargetChanged);
        assert!(db01.before.contains("master_target = "), "{db01:?}");
        assert!(db01.after.contains("master_target = "), "{db01:?}");
        assert_ne!(db01.before, db01.after);
        insta::assert_snapshot!(render_human(&items, &watched(2)));
    }

    #[test]
    fn snapshots_back_after_an_apply_are_a_snapshot_that_came_back() {
        let world = worlds::destructive_snapshots();
        let plan = world.plan();
        let removal = plan
            .actions
            .iter()
            .find(|action| action.kind == kinds::REMOVE_SNAPSHOTS)
            .expect("the world plans a snapshot removal");
        // Another reprotect applied says nothing about this VM: its reprotect is still
        // to do, and what it needs is the plan's business.
        let other = state_with(&["reprotect.other"], Outcome::Applied);
        assert_eq!(drift_of(&world, &other), Vec::new());
        // The removal applied, and snapshots are there again: drift.
        let mut state = State::new("test");
        state
            .upsert(ResourceState {
                address: removal.id.clone(),
                kind: kinds::REMOVE_SNAPSHOTS.to_owned(),
                inputs: removal.after.clone(),
                outcome: Outcome::Applied,
                remote_ids: Vec::new(),
                started_at: Utc::now(),
                finished_at: Some(Utc::now()),
            })
            .expect("no secret");
        let items = drift_of(&world, &state);
        let snapshot = items
            .iter()
            .find(|i| i.change == Change::SnapshotReturned)
            .unwrap_or_else(|| panic!("a snapshot came back: {items:?}"));
        assert_eq!(snapshot.kind, drift_kinds::FIX_UNDONE);
        assert_eq!(snapshot.before, "no snapshots");
        assert_eq!(snapshot.after, "2 snapshots: before-patching, pre-failover");
        assert!(snapshot.object.starts_with("VM "), "{snapshot:?}");
    }

    #[test]
    fn disk_enable_uuid_needed_again_after_an_apply_is_a_reset() {
        let world = worlds::WorldBuilder::new()
            .machine(worlds::Machine::new(
                "web01",
                worlds::ItemState::ReprotectedAsDeclared,
            ))
            .fix_disk_enable_uuid()
            .build();
        let state = state_with(&["reprotect.web01"], Outcome::Applied);
        let items = drift_of(&world, &state);
        let reset = items
            .iter()
            .find(|i| i.change == Change::DiskEnableUuidReset)
            .unwrap_or_else(|| panic!("disk.EnableUUID reset: {items:?}"));
        assert_eq!(reset.kind, drift_kinds::FIX_UNDONE);
        assert_eq!(reset.rule.as_deref(), Some("FB107"));
        assert!(reset.object.starts_with("master target VM "), "{reset:?}");
        assert_eq!(reset.before, "disk.EnableUUID = TRUE");
        assert_ne!(reset.after, reset.before);
    }

    #[test]
    fn what_applied_reprotects_replicate_through_turning_unhealthy_is_drift() {
        let mut world = worlds::all_done();
        let long_ago = worlds::fixed_time() - chrono::Duration::hours(3);
        for vault in world.observed.vaults.values_mut() {
            for item in &mut vault.protected_items {
                item.replication_health = Some("Critical".to_owned());
            }
            for fabric in &mut vault.fabrics {
                fabric.last_heartbeat = Some(long_ago);
                for mt in &mut fabric.master_targets {
                    mt.last_heartbeat = Some(long_ago);
                }
            }
        }
        // Only web01 was applied by failback: app01's health is not drift.
        let state = state_with(&["reprotect.web01"], Outcome::Applied);
        let items = drift_of(&world, &state);
        let told: Vec<(String, Change)> = items
            .iter()
            .map(|i| (i.address.clone(), i.change))
            .collect();
        assert!(
            told.contains(&("reprotect.web01".to_owned(), Change::HealthCritical)),
            "{items:#?}"
        );
        assert!(
            !told.iter().any(|(address, _)| address == "reprotect.app01"),
            "{items:#?}"
        );
        let heartbeats: Vec<&DriftItem> = items
            .iter()
            .filter(|i| i.change == Change::HeartbeatStopped)
            .collect();
        assert!(
            heartbeats
                .iter()
                .any(|i| i.address.starts_with("master_target.")),
            "{items:#?}"
        );
        assert!(
            heartbeats
                .iter()
                .any(|i| i.address.starts_with("configuration_server.")),
            "{items:#?}"
        );
        assert!(
            heartbeats
                .iter()
                .all(|i| i.after.contains("(180 minutes before discovery)")),
            "{heartbeats:#?}"
        );
        // Without anything applied, none of it is drift.
        assert_eq!(drift_of(&world, &State::new("test")), Vec::new());
    }

    #[test]
    fn violated_rules_after_an_apply_say_what_changed_and_others_are_not_drift() {
        use failback_engine::rules::Severity;
        let heartbeat = "last heartbeat 2026-11-26T08:00:00+00:00";
        let world = worlds::WorldBuilder::new()
            .machine(worlds::Machine::new(
                "web01",
                worlds::ItemState::ReprotectedAsDeclared,
            ))
            .finding(
                "FB104",
                Severity::Error,
                "process_server.ps_azure",
                "process server ps-azure-01 last reached the configuration server 90 minutes \
                 before discovery",
                Some(heartbeat),
                "check the process server's services",
                None,
            )
            .finding(
                "FB113",
                Severity::Error,
                "master_target.mt_linux",
                "VMware Tools do not run on master target VM mt-linux-01",
                Some("guest.toolsRunningStatus = guestToolsNotRunning"),
                "start VMware Tools on mt-linux-01",
                None,
            )
            // Not drift: advice, a rule that could not be checked, an acknowledged one.
            .finding(
                "FB123",
                Severity::Advice,
                "reprotect.web01",
                "web01 had a static IP address",
                None,
                "set it again",
                None,
            )
            .finding(
                "FB108",
                Severity::Warning,
                "master_target.mt_linux",
                "could not check",
                None,
                "check by hand",
                Some("datastore cluster not discovered"),
            )
            .finding(
                "FB128",
                Severity::Warning,
                "reprotect.web01",
                "VM web01 is powered on",
                Some("poweredOn"),
                "power it off",
                None,
            )
            .acknowledge("web01", "FB128", "powered on by the change runbook")
            .build();
        let state = state_with(&["reprotect.web01"], Outcome::Applied);
        let items = drift_of(&world, &state);
        let told: Vec<(&str, Change, Option<&str>)> = items
            .iter()
            .map(|i| (i.address.as_str(), i.change, i.rule.as_deref()))
            .collect();
        assert_eq!(
            told,
            [
                (
                    "master_target.mt_linux",
                    Change::RuleViolated,
                    Some("FB113")
                ),
                (
                    "process_server.ps_azure",
                    Change::HeartbeatStopped,
                    Some("FB104")
                ),
            ],
            "{items:#?}"
        );
        assert_eq!(items[0].object, "master target VM mt-linux-01");
        assert_eq!(
            items[0].before,
            "held: VMware Tools run on the master target"
        );
        assert_eq!(
            items[0].after,
            "guest.toolsRunningStatus = guestToolsNotRunning"
        );
        assert_eq!(items[0].remediation, "start VMware Tools on mt-linux-01");
        assert_eq!(items[1].object, "process server ps-azure-01");
        assert_eq!(items[1].before, "heartbeat within 15 minutes");
        assert_eq!(items[1].after, heartbeat);
    }

    fn sample() -> Vec<DriftItem> {
        vec![DriftItem {
            address: "master_target.mt_linux".to_owned(),
            kind: drift_kinds::FIX_UNDONE,
            change: Change::SnapshotReturned,
            rule: Some("FB115".to_owned()),
            object: "master target VM mt-lnx-01".to_owned(),
            before: "no snapshots".to_owned(),
            after: "1 snapshot: pre|patch".to_owned(),
            message: "master target VM mt-lnx-01 has 1 snapshot".to_owned(),
            remediation: "run `failback apply` to remove them again".to_owned(),
        }]
    }

    #[test]
    fn reports_render_in_every_format() {
        let items = sample();
        insta::assert_snapshot!(render_human(&items, &watched(3)));
        insta::assert_snapshot!(render_markdown(&items, &watched(3)));
        let json: serde_json::Value =
            serde_json::from_str(&render_json(&items, &watched(3))).expect("JSON");
        insta::assert_json_snapshot!(json);
        assert_eq!(
            render_human(&[], &watched(2)),
            "No drift. The 2 applied changes in the state are still in place.\n"
        );
        assert_eq!(
            render_human(&[], &watched(0)),
            "No drift. The state records nothing applied.\n"
        );
    }

    fn watched(applied: usize) -> Watched {
        Watched {
            applied,
            undeclared: Vec::new(),
        }
    }

    #[test]
    fn applied_changes_at_undeclared_addresses_are_not_watched_and_said_so() {
        let world = worlds::all_done();
        let mut state = state_with(&["reprotect.web01", "reprotect.gone"], Outcome::Applied);
        state
            .upsert(ResourceState {
                address: "reprotect.failed_and_gone".to_owned(),
                kind: kinds::REPROTECT.to_owned(),
                inputs: serde_json::json!({}),
                outcome: Outcome::Failed {
                    message: "job failed".to_owned(),
                },
                remote_ids: Vec::new(),
                started_at: Utc::now(),
                finished_at: Some(Utc::now()),
            })
            .expect("no secret");
        let mut fix = state.get("reprotect.web01").cloned().expect("web01");
        fix.address = format!(
            "{}/vcenter.vm.set_extra_config",
            world.config.master_targets[0].address
        );
        state.upsert(fix).expect("no secret");
        let watched = Watched::of(&world.config, &state);
        assert_eq!(
            watched,
            Watched {
                applied: 2,
                undeclared: vec!["reprotect.gone".to_owned()],
            }
        );
        assert_eq!(
            render_human(&[], &watched),
            "No drift. The 2 applied changes in the state are still in place.\n\
             Not watched: reprotect.gone is recorded as applied but no longer declared; \
             `failback state rm reprotect.gone` forgets it.\n"
        );
        let json: serde_json::Value =
            serde_json::from_str(&render_json(&[], &watched)).expect("JSON");
        assert_eq!(
            json["undeclared_resources"],
            serde_json::json!(["reprotect.gone"])
        );

        let only_gone = state_with(&["reprotect.gone", "reprotect.old"], Outcome::Applied);
        let watched = Watched::of(&world.config, &only_gone);
        let markdown = render_markdown(&[], &watched);
        assert!(
            markdown.starts_with(
                "**failback drift**: none. Nothing applied in the state is declared any more.\n"
            ),
            "{markdown}"
        );
        assert!(
            markdown.contains(
                "Not watched: 2 addresses are recorded as applied but no longer declared \
                 (reprotect.gone, reprotect.old); `failback state rm ADDRESS...` forgets them."
            ),
            "{markdown}"
        );
    }
}
