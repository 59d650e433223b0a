//! `failback apply` end to end: the real binary against both simulators, one pair of
//! simulators per test.

mod support {
    pub mod sim;
}

use std::time::Duration;

use failback_engine::state::{LocalBackend, LockInfo, Operation, StateBackend};
use support::sim::SimWorld;

/// Apply an example, then check it converged: a plan finds nothing to do, the state
/// records every reprotect as applied with its ASR job, and no item was reprotected
/// twice.
fn apply_converges(example: &str) {
    let world = SimWorld::start(example, |_| {});
    let apply = world.run(&["apply", "--auto-approve"]);
    assert_eq!(apply.code, Some(0), "{}", apply.text());
    assert!(apply.stderr.contains("Apply complete!"), "{}", apply.text());

    let plan = world.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, Some(0), "{}", plan.text());
    assert!(plan.stdout.contains("No changes."), "{}", plan.text());

    let state = world.state();
    let resources = state["resources"].as_object().expect("resources");
    let reprotects: Vec<_> = resources
        .values()
        .filter(|r| r["kind"] == "asr.protected_item.reprotect")
        .collect();
    assert!(!reprotects.is_empty(), "no reprotect in the state: {state}");
    for resource in &reprotects {
        assert_eq!(resource["outcome"]["status"], "applied", "{resource}");
        let ids = resource["remote_ids"].as_array().expect("remote ids");
        assert!(
            ids.iter().any(|id| id["type"] == "asr_job"),
            "no ASR job recorded: {resource}"
        );
    }
    // One serial per write; writes coalesce what finished meanwhile, so there can be
    // fewer than reprotects, but never none.
    assert!(state["serial"].as_u64().unwrap_or(0) >= 1, "{state}");
    let text = std::fs::read_to_string(world.state_path()).expect("state");
    assert!(
        !text.contains(world.asr().token()),
        "the token leaked into state"
    );

    // A second apply has nothing to do and reprotects nothing again.
    let again = world.run(&["apply", "--auto-approve"]);
    assert_eq!(again.code, Some(0), "{}", again.text());
    assert!(again.stderr.contains("No changes."), "{}", again.text());
    assert_eq!(
        world.asr().calls("POST */reProtect") as u64,
        reprotects.len() as u64,
        "one reprotect POST per item"
    );
}

#[test]
fn apply_basic_then_plan_shows_no_changes() {
    apply_converges("basic");
}

#[test]
fn apply_for_each_then_plan_shows_no_changes() {
    apply_converges("for-each");
}

#[test]
fn apply_recovery_plan_then_plan_shows_no_changes() {
    apply_converges("recovery-plan");
}

#[test]
fn apply_without_approval_and_without_a_terminal_is_refused() {
    let world = SimWorld::start("basic", |_| {});
    let apply = world.run(&["apply"]);
    assert_eq!(apply.code, Some(1), "{}", apply.text());
    assert!(
        apply.stderr.contains("apply needs approval"),
        "{}",
        apply.text()
    );
    assert!(!world.state_path().exists());
    assert_eq!(world.asr().reprotect_requests("web01-item"), 0);
}

#[test]
fn a_saved_plan_made_stale_by_the_estate_is_refused() {
    let world = SimWorld::start("basic", |_| {});
    let plan = world.run(&["plan", "--out", "failback.plan"]);
    assert_eq!(plan.code, Some(0), "{}", plan.text());
    world.admin(
        "PATCH",
        "/_sim/items/web01-item",
        serde_json::json!({"replication_health": "Critical"}),
    );
    let apply = world.run(&["apply", "failback.plan"]);
    assert_eq!(apply.code, Some(1), "{}", apply.text());
    assert!(apply.stderr.contains("is stale"), "{}", apply.text());
    assert!(
        apply.stderr.contains("the estate changed"),
        "{}",
        apply.text()
    );
    assert_eq!(world.asr().reprotect_requests("web01-item"), 0);
}

#[test]
fn a_fresh_saved_plan_is_applied() {
    let world = SimWorld::start("basic", |_| {});
    let plan = world.run(&["plan", "--out", "failback.plan"]);
    assert_eq!(plan.code, Some(0), "{}", plan.text());
    let apply = world.run(&["apply", "failback.plan"]);
    assert_eq!(apply.code, Some(0), "{}", apply.text());
    assert_eq!(world.asr().reprotect_accepted("web01-item"), 1);
    // The state moved on: the same saved plan is now stale.
    let again = world.run(&["apply", "failback.plan"]);
    assert_eq!(again.code, Some(1), "{}", again.text());
    assert!(
        again.stderr.contains("the state changed"),
        "{}",
        again.text()
    );
    assert_eq!(world.asr().reprotect_accepted("web01-item"), 1);
}

#[test]
fn a_second_apply_waits_for_the_lock_and_fails_naming_the_holder() {
    let world = SimWorld::start("basic", |_| {});
    let backend = LocalBackend::new(world.state_path());
    let holder = LockInfo::new(Operation::Apply, "0.0.0-other-run");
    let _lock = backend
        .lock(holder.clone(), Duration::ZERO)
        .expect("the test takes the lock");
    let started = std::time::Instant::now();
    let apply = world.run(&["apply", "--auto-approve", "--lock-timeout", "1s"]);
    assert!(started.elapsed() >= Duration::from_secs(1), "did not wait");
    assert_eq!(apply.code, Some(1), "{}", apply.text());
    assert!(apply.stderr.contains("locked"), "{}", apply.text());
    assert!(
        apply.stderr.contains(&holder.id.to_string()),
        "{}",
        apply.text()
    );
    assert!(apply.stderr.contains("0.0.0-other-run"), "{}", apply.text());
    assert_eq!(world.asr().reprotect_requests("web01-item"), 0);
}

#[test]
fn json_streams_one_event_per_line() {
    let world = SimWorld::start("basic", |_| {});
    let apply = world.run(&["apply", "--auto-approve", "--json"]);
    assert_eq!(apply.code, Some(0), "{}", apply.text());
    let events: Vec<serde_json::Value> = apply
        .stdout
        .lines()
        .map(|line| serde_json::from_str(line).expect("each line is one JSON object"))
        .collect();
    let types: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(types.first(), Some(&"apply_start"), "{types:?}");
    assert!(types.contains(&"apply_complete"), "{types:?}");
    assert_eq!(types.last(), Some(&"change_summary"), "{types:?}");
    for event in &events {
        assert!(event["@timestamp"].is_string(), "{event}");
        assert!(event["@level"].is_string(), "{event}");
        assert!(event["@message"].is_string(), "{event}");
    }
    let summary = events.last().expect("a summary");
    assert_eq!(summary["hook"]["changes"]["applied"], 1, "{summary}");
}

#[test]
fn a_failed_job_fails_the_run_and_a_rerun_finishes_it() {
    let world = SimWorld::start("basic", |estate| {
        estate["vault"]["behaviour"]["faults"]["failing_jobs"] = serde_json::json!(["web01-item"]);
    });
    let first = world.run(&["apply", "--auto-approve"]);
    assert_eq!(first.code, Some(1), "{}", first.text());
    assert!(
        first.stderr.contains("Apply incomplete"),
        "{}",
        first.text()
    );
    assert!(
        first.stderr.contains("failed: reprotect.web01"),
        "{}",
        first.text()
    );
    let state = world.state();
    assert_eq!(
        state["resources"]["reprotect.web01"]["outcome"]["status"], "failed",
        "{state}"
    );

    let second = world.run(&["apply", "--auto-approve"]);
    assert_eq!(second.code, Some(0), "{}", second.text());
    let state = world.state();
    let web01 = &state["resources"]["reprotect.web01"];
    assert_eq!(web01["outcome"]["status"], "applied", "{state}");
    // Both runs' jobs are kept, oldest first.
    assert_eq!(
        web01["remote_ids"].as_array().map(Vec::len),
        Some(2),
        "{web01}"
    );
    let posts = world.asr().reprotect_requests("web01-item");

    let third = world.run(&["apply", "--auto-approve"]);
    assert_eq!(third.code, Some(0), "{}", third.text());
    assert_eq!(world.asr().reprotect_requests("web01-item"), posts);
}

#[test]
fn a_failed_job_spares_independent_reprotects_and_a_rerun_repeats_none() {
    let world = SimWorld::start("for-each", |estate| {
        estate["vault"]["behaviour"]["faults"]["failing_jobs"] = serde_json::json!(["app07-item"]);
    });
    let first = world.run(&["apply", "--auto-approve"]);
    assert_eq!(first.code, Some(1), "{}", first.text());
    let state = world.state();
    let resources = state["resources"].as_object().expect("resources");
    let status = |address: &str| resources[address]["outcome"]["status"].clone();
    assert_eq!(status("reprotect.app[\"app07\"]"), "failed", "{state}");
    let applied = resources
        .values()
        .filter(|r| r["kind"] == "asr.protected_item.reprotect")
        .filter(|r| r["outcome"]["status"] == "applied")
        .count();
    assert_eq!(applied, 29, "every independent reprotect finished: {state}");

    let second = world.run(&["apply", "--auto-approve"]);
    assert_eq!(second.code, Some(0), "{}", second.text());
    assert_eq!(status_after(&world, "reprotect.app[\"app07\"]"), "applied");
    for i in 1..=30 {
        let item = format!("app{i:02}-item");
        assert_eq!(
            world.asr().reprotect_accepted(&item),
            if i == 7 { 2 } else { 1 },
            "{item}: the rerun reprotected only the failed item, once"
        );
    }
}

fn status_after(world: &SimWorld, address: &str) -> serde_json::Value {
    world.state()["resources"][address]["outcome"]["status"].clone()
}

#[test]
fn kill_9_during_apply_then_apply_again_converges() {
    let world = SimWorld::start("basic", |_| {});
    let mut child = apply_until_in_progress(&world);
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    assert_eq!(world.asr().reprotect_accepted("web01-item"), 1);

    let again = world.run(&["apply", "--auto-approve"]);
    assert_eq!(again.code, Some(0), "{}", again.text());
    let state = world.state();
    assert_eq!(
        state["resources"]["reprotect.web01"]["outcome"]["status"], "applied",
        "{state}"
    );
    let backend = LocalBackend::new(world.state_path());
    assert!(backend.read().expect("the state file is valid").is_some());
    assert_eq!(
        world.asr().reprotect_accepted("web01-item"),
        1,
        "the reprotect was sent again after the crash"
    );
    let plan = world.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, Some(0), "{}", plan.text());
}

/// The human output of `apply` on the basic example, with times, ids and ports
/// normalised and the job's intermediate progress lines (their number depends on
/// timing) left out.
#[test]
fn the_human_apply_output_is_pinned() {
    let world = SimWorld::start("basic", |_| {});
    let apply = world.run(&["apply", "--auto-approve"]);
    assert_eq!(apply.code, Some(0), "{}", apply.text());
    let stderr: String = apply
        .stderr
        .lines()
        .filter(|line| !line.contains(" WARN "))
        .filter(|line| !(line.contains('%') || line.contains("sending reprotect")))
        .map(|line| format!("{line}\n"))
        .collect();
    let text = format!("--- stdout\n{}--- stderr\n{stderr}", apply.stdout);
    insta::with_settings!({filters => vec![
        (r"\b\d{2}:\d{2}:\d{2} ", "[time] "),
        (r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "[uuid]"),
        (r"after \d+\.\d s", "after [elapsed] s"),
        (r"127\.0\.0\.1:\d+", "127.0.0.1:[port]"),
    ]}, {
        insta::assert_snapshot!(text);
    });
}

/// Spawns `apply` and waits until the simulator accepted its reprotect (the job then
/// runs for some seconds).
fn apply_until_in_progress(world: &SimWorld) -> std::process::Child {
    let mut child = world
        .command(&["apply", "--auto-approve"])
        .spawn()
        .expect("failback starts");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let in_progress = world.asr().reprotect_accepted("web01-item") >= 1;
        if in_progress {
            return child;
        }
        if let Ok(Some(_)) = child.try_wait() {
            let run = support::sim::wait_bounded(child, support::sim::COMMAND_DEADLINE);
            panic!("apply ended before it could be interrupted: {}", run.text());
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the reprotect never showed as in progress"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn interrupt(child: &std::process::Child) {
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
}

#[test]
fn a_first_ctrl_c_lets_the_running_reprotect_finish_and_saves_it() {
    let world = SimWorld::start("basic", |_| {});
    let child = apply_until_in_progress(&world);
    interrupt(&child);
    let run = support::sim::wait_bounded(child, support::sim::COMMAND_DEADLINE);
    assert!(run.stderr.contains("Interrupt received"), "{}", run.text());
    assert_eq!(run.code, Some(0), "{}", run.text());
    let state = world.state();
    assert_eq!(
        state["resources"]["reprotect.web01"]["outcome"]["status"], "applied",
        "{state}"
    );
    assert_eq!(world.asr().reprotect_accepted("web01-item"), 1);
}

#[test]
fn a_second_ctrl_c_aborts_after_saving_state_and_a_rerun_converges() {
    let world = SimWorld::start("basic", |_| {});
    let child = apply_until_in_progress(&world);
    interrupt(&child);
    std::thread::sleep(Duration::from_millis(200));
    interrupt(&child);
    let run = support::sim::wait_bounded(child, support::sim::COMMAND_DEADLINE);
    assert!(run.stderr.contains("Second interrupt"), "{}", run.text());
    assert_eq!(run.code, Some(1), "{}", run.text());
    let state = world.state();
    let status = &state["resources"]["reprotect.web01"]["outcome"]["status"];
    assert_eq!(status, "in_progress", "{state}");
    let pending = &state["resources"]["reprotect.web01"]["outcome"]["pending"];
    assert!(pending.as_array().is_some(), "{state}");

    let again = world.run(&["apply", "--auto-approve"]);
    assert_eq!(again.code, Some(0), "{}", again.text());
    assert_eq!(world.asr().reprotect_accepted("web01-item"), 1);
    assert_eq!(
        world.state()["resources"]["reprotect.web01"]["outcome"]["status"],
        "applied"
    );
}

#[test]
fn a_target_in_a_recovery_plan_plans_the_whole_plan() {
    let world = SimWorld::start("recovery-plan", |_| {});
    // A member of the recovery plan brings the whole plan (FB120).
    let plan = world.run(&["plan", "--target", "reprotect.erp_db"]);
    assert_eq!(plan.code, Some(0), "{}", plan.text());
    assert!(
        plan.stdout
            .contains("Targeting is in effect (--target reprotect.erp_db)"),
        "{}",
        plan.text()
    );
    for member in ["reprotect.erp_db", "reprotect.erp_app", "reprotect.erp_web"] {
        assert!(
            plan.stdout
                .contains(&format!("# {member} will be reprotected")),
            "{member}\n{}",
            plan.text()
        );
    }

    let unknown = world.run(&["plan", "--target", "reprotect.erp_dbb"]);
    assert_eq!(unknown.code, Some(1), "{}", unknown.text());
    assert!(
        unknown.stderr.contains(
            "--target: no reprotect.erp_dbb in the configuration; did you mean `reprotect.erp_db`?"
        ),
        "{}",
        unknown.text()
    );
    let saved = world.run(&["apply", "failback.plan", "--target", "reprotect.erp_db"]);
    assert_eq!(
        saved.code,
        Some(2),
        "clap refuses --target with a saved plan"
    );
}

/// The reprotect addresses a `plan --json` would carry out.
fn planned_reprotects(world: &SimWorld) -> Vec<String> {
    let plan = world.run(&["plan", "--json"]);
    let plan: serde_json::Value = serde_json::from_str(&plan.stdout).expect("plan JSON");
    assert_eq!(plan["targets"], serde_json::json!([]));
    plan["resource_changes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|change| change["type"] == "asr.protected_item.reprotect")
        .filter_map(|change| change["address"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn apply_with_targets_reprotects_only_those_and_leaves_the_rest_to_plan() {
    let world = SimWorld::start("for-each", |_| {});
    let before = planned_reprotects(&world);
    let targeted = [r#"reprotect.app["app01"]"#, r#"reprotect.app["app05"]"#];
    assert!(
        targeted.iter().all(|t| before.iter().any(|a| a == t)),
        "{before:?}"
    );

    let apply = world.run(&[
        "apply",
        "--auto-approve",
        "--target",
        targeted[0],
        "--target",
        targeted[1],
    ]);
    assert_eq!(apply.code, Some(0), "{}", apply.text());
    assert_eq!(world.asr().calls("POST */reProtect"), 2, "{}", apply.text());

    let after = planned_reprotects(&world);
    let expected: Vec<String> = before
        .into_iter()
        .filter(|address| !targeted.contains(&address.as_str()))
        .collect();
    assert_eq!(after, expected, "only what was not targeted is left");
}
