//! `failback drift`: what changed outside failback since the last apply. It plans
//! against a fresh discovery and compares the result with the state: a reprotect the
//! state records as applied that needs doing again (the item is no longer protected),
//! a reprotect done with other values (a different master target), a fix the state
//! records that is needed again (a snapshot back on a master target, disk.EnableUUID
//! reset), and a violated rule on anything failback applied (health turned critical,
//! a heartbeat stopped).
//!
//! Meant for schedules: exit 0 clean, 2 drift, 1 error.

use std::path::Path;

use failback_engine::plan::{self, Plan, PlanMeta, PriorState, kinds};
use failback_engine::rules::{Severity, Status};
use failback_engine::state::{self, Outcome, State};
use serde::Serialize;

use crate::command_error::{CommandError, Exit};
use crate::commands::GlobalArgs;
use crate::commands::plan::{DISCOVERY_TIMEOUT, PlanWiring, default_wiring, discover};
use crate::events::state_key;
use crate::ui::Ui;

/// Report what changed outside failback since the last apply: items no longer
/// protected, health turned critical, snapshots back on a master target, heartbeats
/// stopped, disk.EnableUUID reset, a different master target.
///
/// Exit codes: 0 no drift, 2 drift, 1 error.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub config: crate::commands::config_args::ConfigArgs,
    /// Print the report as JSON.
    #[arg(long, conflicts_with = "markdown")]
    pub json: bool,
    /// Print the report as Markdown (an issue or chat message).
    #[arg(long)]
    pub markdown: bool,
}

/// One thing that moved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DriftItem {
    pub address: String,
    /// `no_longer_protected`, `values_changed`, `fix_undone`, `rule_violated`.
    pub kind: &'static str,
    /// The rule, for `rule_violated` and rule-driven fixes.
    pub rule: Option<String>,
    pub message: String,
}

/// `failback drift`.
pub fn cmd_drift(ui: &mut Ui, global: &GlobalArgs, args: &Args) -> Result<Exit, CommandError> {
    let wiring = default_wiring();
    let (items, applied) = run_drift(wiring.as_ref(), &global.chdir, args)?;
    let text = if args.json {
        render_json(&items, applied)
    } else if args.markdown {
        render_markdown(&items, applied)
    } else {
        render_human(&items, applied)
    };
    ui.write_data(&text);
    Ok(if items.is_empty() {
        Exit::Success
    } else {
        Exit::Changes
    })
}

/// Discovers, plans and compares with the state; returns the drift and how many
/// addresses the state records as applied.
pub fn run_drift(
    wiring: &dyn PlanWiring,
    dir: &Path,
    args: &Args,
) -> Result<(Vec<DriftItem>, usize), CommandError> {
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
    let mut observed = discover(providers, DISCOVERY_TIMEOUT)?;
    observed.observed_at = Some(started);
    let assessment = wiring.assess(config, &observed);
    let meta = PlanMeta {
        tool_version: env!("CARGO_PKG_VERSION").to_owned(),
        created_at: started,
        config_digest: plan::config_digest(&loaded.files, &variables),
    };
    let plan = plan::make_plan(config, &observed, &prior, assessment, meta);
    let state = current.unwrap_or_else(|| State::new(env!("CARGO_PKG_VERSION")));
    let applied = state
        .resources
        .values()
        .filter(|r| r.outcome == Outcome::Applied)
        .count();
    Ok((compare(&plan, &state), applied))
}

/// The drift of `plan` (made from a fresh discovery) against what `state` says was
/// applied. Nothing failback never applied is drift: that is a plan's business.
pub fn compare(plan: &Plan, state: &State) -> Vec<DriftItem> {
    let applied = |key: &str| {
        state
            .get(key)
            .is_some_and(|resource| resource.outcome == Outcome::Applied)
    };
    let mut items = Vec::new();
    for action in &plan.actions {
        let key = state_key(action);
        let address = action.address.to_string();
        if action.kind == kinds::REPROTECT && applied(&key) {
            items.push(DriftItem {
                address,
                kind: "no_longer_protected",
                rule: None,
                message: format!(
                    "{} was reprotected by failback and is no longer protected: {}",
                    action.target_name(),
                    action.reason
                ),
            });
        } else if action.kind != kinds::REPROTECT
            && action.kind != kinds::WAIT_FOR_AGENT
            // Once failback applied anything, a fix needed again means someone undid
            // it (or the estate moved under it).
            && !state.resources.is_empty()
        {
            items.push(DriftItem {
                address,
                kind: "fix_undone",
                rule: action.rule.clone(),
                message: format!(
                    "{} needs {} again: {}",
                    action.target_name(),
                    action.kind,
                    action.reason
                ),
            });
        }
    }
    for not_planned in &plan.not_planned {
        let address = not_planned.address.to_string();
        if applied(&address) {
            items.push(DriftItem {
                address,
                kind: "no_longer_protected",
                rule: None,
                message: format!(
                    "was reprotected by failback and is no longer protected, nor can it be \
                     reprotected now: {}",
                    not_planned.reason
                ),
            });
        }
    }
    for drift in &plan.drift {
        let address = drift.address.to_string();
        if applied(&address) {
            items.push(DriftItem {
                address,
                kind: "values_changed",
                rule: None,
                message: format!(
                    "{} ({}) changed outside failback: {} (observed {}, declared {})",
                    drift.protected_item,
                    drift.attributes.join(", "),
                    drift.reason,
                    drift.before,
                    drift.after
                ),
            });
        }
    }
    if !state.resources.is_empty() {
        for finding in &plan.findings {
            let violated = finding.status == Status::Violated
                && finding.acknowledged.is_none()
                && finding.severity != Severity::Advice;
            if violated {
                items.push(DriftItem {
                    address: finding.address.to_string(),
                    kind: "rule_violated",
                    rule: Some(finding.rule.clone()),
                    message: match &finding.observed {
                        Some(observed) => format!("{} (observed: {observed})", finding.message),
                        None => finding.message.clone(),
                    },
                });
            }
        }
    }
    items.sort_by(|a, b| (&a.address, a.kind, &a.rule).cmp(&(&b.address, b.kind, &b.rule)));
    items.dedup();
    items
}

fn render_human(items: &[DriftItem], applied: usize) -> String {
    if items.is_empty() {
        return format!(
            "No drift. The {applied} applied change(s) in the state are still in place.\n"
        );
    }
    let mut out = format!(
        "Drift: {} change(s) outside failback since the last apply.\n\n",
        items.len()
    );
    for item in items {
        let rule = item
            .rule
            .as_deref()
            .map(|r| format!(" [{r}]"))
            .unwrap_or_default();
        out.push_str(&format!("  ! {}{rule}: {}\n", item.address, item.message));
    }
    out.push_str("\nRun `failback plan` to see what would bring it back, then `failback apply`.\n");
    out
}

fn render_json(items: &[DriftItem], applied: usize) -> String {
    let report = serde_json::json!({
        "format_version": "1.0",
        "drift": !items.is_empty(),
        "applied_resources": applied,
        "items": items,
    });
    format!("{report}\n")
}

fn render_markdown(items: &[DriftItem], applied: usize) -> String {
    if items.is_empty() {
        return format!(
            "**failback drift**: none; the {applied} applied change(s) are in place.\n"
        );
    }
    let mut out = format!(
        "**failback drift**: {} change(s) outside failback since the last apply.\n\n\
         | address | kind | rule | what |\n| --- | --- | --- | --- |\n",
        items.len()
    );
    for item in items {
        out.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            item.address,
            item.kind,
            item.rule.as_deref().unwrap_or(""),
            item.message.replace('|', "\\|").replace('\n', " ")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use failback_engine::plan::worlds;
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

    #[test]
    fn nothing_applied_is_never_drift() {
        let plan = worlds::drift().plan();
        assert_eq!(compare(&plan, &State::new("test")), Vec::new());
    }

    #[test]
    fn everything_in_place_as_applied_is_no_drift() {
        let plan = worlds::all_done().plan();
        let state = state_with(&["reprotect.web01", "reprotect.app01"], Outcome::Applied);
        assert_eq!(compare(&plan, &state), Vec::new());
    }

    #[test]
    fn an_applied_reprotect_needed_again_is_no_longer_protected() {
        let plan = worlds::all_new().plan();
        let state = state_with(&["reprotect.web01"], Outcome::Applied);
        let items = compare(&plan, &state);
        let web01: Vec<_> = items
            .iter()
            .filter(|i| i.address == "reprotect.web01")
            .collect();
        assert_eq!(web01.len(), 1, "{items:?}");
        assert_eq!(web01[0].kind, "no_longer_protected");
        // app01 and db01 were never applied: not drift.
        assert!(
            items
                .iter()
                .all(|i| i.kind != "no_longer_protected" || i.address == "reprotect.web01")
        );
    }

    #[test]
    fn a_failed_reprotect_still_to_do_is_not_drift() {
        let plan = worlds::all_new().plan();
        let state = state_with(
            &["reprotect.web01"],
            Outcome::Failed {
                message: "job failed".to_owned(),
            },
        );
        let items = compare(&plan, &state);
        assert!(
            items.iter().all(|i| i.kind != "no_longer_protected"),
            "{items:?}"
        );
    }

    #[test]
    fn other_values_than_applied_are_values_changed() {
        let plan = worlds::drift().plan();
        let state = state_with(&["reprotect.web01", "reprotect.db01"], Outcome::Applied);
        let items = compare(&plan, &state);
        assert!(
            items
                .iter()
                .any(|i| i.address == "reprotect.db01" && i.kind == "values_changed"),
            "{items:?}"
        );
    }

    #[test]
    fn a_fix_needed_again_after_an_apply_is_fix_undone() {
        let plan = worlds::destructive_snapshots().plan();
        let state = state_with(&["reprotect.other"], Outcome::Applied);
        let items = compare(&plan, &state);
        assert!(items.iter().any(|i| i.kind == "fix_undone"), "{items:?}");
    }

    #[test]
    fn reports_render_in_every_format() {
        let items = vec![DriftItem {
            address: "reprotect.web01".to_owned(),
            kind: "rule_violated",
            rule: Some("FB104".to_owned()),
            message: "process server ps01 | critical".to_owned(),
        }];
        insta::assert_snapshot!(render_human(&items, 3));
        insta::assert_snapshot!(render_markdown(&items, 3));
        let json: serde_json::Value = serde_json::from_str(&render_json(&items, 3)).expect("JSON");
        assert_eq!(json["items"][0]["rule"], "FB104");
        assert_eq!(
            render_human(&[], 2),
            "No drift. The 2 applied change(s) in the state are still in place.\n"
        );
    }
}
