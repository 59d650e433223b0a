//! `failback state list`, `state show` and `force-unlock` end to end, against state
//! files and locks made with the engine's own backend.

use std::fs;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use chrono::{TimeZone, Utc};
use failback_engine::state::{
    DEFAULT_STATE_FILE, LocalBackend, LockInfo, Operation, Outcome, RemoteId, ResourceState, State,
    StateBackend,
};
use serde_json::json;

fn failback(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_failback"))
        .arg("-C")
        .arg(dir)
        .args(["--color", "never"])
        .args(args)
        .env_remove("FAILBACK_LOG")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|err| panic!("cannot run failback: {err}"))
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn resource(address: &str, outcome: Outcome, remote: Vec<RemoteId>) -> ResourceState {
    let at = |minute| Utc.with_ymd_and_hms(2026, 11, 26, 9, minute, 0).single();
    ResourceState {
        address: address.to_owned(),
        kind: "asr.protected_item.reprotect".to_owned(),
        inputs: json!({
            "protected_item_id": format!("/subscriptions/0000/replicationProtectedItems/{address}"),
            "datastore_name": "ds-gold",
            "retention_drive": "/mnt/retention",
            "vcenter_password": "(sensitive value)",
        }),
        remote_ids: remote,
        started_at: at(0).unwrap_or_default(),
        finished_at: if matches!(outcome, Outcome::InProgress { .. }) {
            None
        } else {
            at(7)
        },
        outcome,
    }
}

/// A directory with a state file of three addresses, one of each outcome.
fn dir_with_state() -> (tempfile::TempDir, LocalBackend) {
    let dir = tempfile::tempdir().unwrap_or_else(|err| panic!("tempdir: {err}"));
    let backend = LocalBackend::new(dir.path().join(DEFAULT_STATE_FILE));
    let mut state = State::new("0.1.0");
    state.bump("0.1.0");
    let items = [
        resource(
            "reprotect.web01",
            Outcome::Applied,
            vec![RemoteId::AsrJob("7f1c-reprotect".to_owned())],
        ),
        resource(
            "reprotect.app[\"db01\"]",
            Outcome::Failed {
                message: "ASR job 9e2d failed: the master target has no free retention space"
                    .to_owned(),
            },
            vec![RemoteId::AsrJob("9e2d".to_owned())],
        ),
        resource(
            "vcenter.vm_snapshots.web02",
            Outcome::InProgress {
                pending: vec![RemoteId::VsphereTask("task-1042".to_owned())],
            },
            vec![RemoteId::VsphereTask("task-1042".to_owned())],
        ),
    ];
    for item in items {
        state.upsert(item).unwrap_or_else(|err| panic!("{err}"));
    }
    let guard = backend
        .lock(LockInfo::new(Operation::Apply, "0.1.0"), Duration::ZERO)
        .unwrap_or_else(|err| panic!("{err}"));
    backend
        .write(&guard, &state)
        .unwrap_or_else(|err| panic!("{err}"));
    drop(guard);
    (dir, backend)
}

#[test]
fn list_prints_addresses_and_outcomes() {
    let (dir, _backend) = dir_with_state();
    let output = failback(dir.path(), &["state", "list"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    insta::assert_snapshot!(stdout(&output), @r#"
    reprotect.app["db01"]       failed
    reprotect.web01             applied
    vcenter.vm_snapshots.web02  in progress
    "#);
}

#[test]
fn list_without_state_says_nothing_was_applied() {
    let dir = tempfile::tempdir().unwrap_or_else(|err| panic!("tempdir: {err}"));
    let output = failback(dir.path(), &["state", "list"]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(stdout(&output), "");
    assert!(stderr(&output).contains("nothing has been applied yet"));
}

#[test]
fn show_prints_one_address_for_humans_and_as_json() {
    let (dir, _backend) = dir_with_state();
    let output = failback(dir.path(), &["state", "show", "reprotect.app[\"db01\"]"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    insta::assert_snapshot!("show_failed", stdout(&output));

    let output = failback(dir.path(), &["state", "show", "vcenter.vm_snapshots.web02"]);
    insta::assert_snapshot!("show_in_progress", stdout(&output));

    let output = failback(dir.path(), &["state", "show", "--json", "reprotect.web01"]);
    assert_eq!(output.status.code(), Some(0));
    let value: serde_json::Value =
        serde_json::from_slice(&output.stdout).unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(value["outcome"], json!({"status": "applied"}));
    assert_eq!(
        value["remote_ids"],
        json!([{"type": "asr_job", "id": "7f1c-reprotect"}])
    );
}

#[test]
fn show_of_an_unknown_address_suggests_the_closest() {
    let (dir, _backend) = dir_with_state();
    let output = failback(dir.path(), &["state", "show", "reprotect.web1"]);
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(
        err.contains("no address reprotect.web1 in the state"),
        "{err}"
    );
    assert!(err.contains("did you mean `reprotect.web01`?"), "{err}");
}

#[test]
fn a_corrupt_state_file_is_reported_and_left_alone() {
    let dir = tempfile::tempdir().unwrap_or_else(|err| panic!("tempdir: {err}"));
    let path = dir.path().join("custom.json");
    fs::write(&path, "{\"version\": 4, \"lineage\": \"x\"}").unwrap_or_else(|e| panic!("{e}"));
    let output = failback(dir.path(), &["state", "list", "--state", "custom.json"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("is not a failback state file (it has no format_version)"));
    assert_eq!(
        fs::read_to_string(&path).unwrap_or_default(),
        "{\"version\": 4, \"lineage\": \"x\"}"
    );
}

#[test]
fn force_unlock_removes_only_the_lock_with_the_given_id() {
    let (dir, backend) = dir_with_state();
    let holder = LockInfo::new(Operation::Apply, "0.1.0");
    let guard = backend
        .lock(holder.clone(), Duration::ZERO)
        .unwrap_or_else(|err| panic!("{err}"));
    let id = holder.id.to_string();

    let wrong = uuid::Uuid::new_v4().to_string();
    let output = failback(dir.path(), &["force-unlock", "--force", &wrong]);
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(
        err.contains(&format!("lock id {wrong} does not match")),
        "{err}"
    );
    assert!(err.contains(&holder.who), "{err}");
    assert!(backend.lock_path().exists());

    // Without --force and without a terminal to confirm on, nothing happens.
    let output = failback(dir.path(), &["force-unlock", &id]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("needs confirmation"));
    assert!(backend.lock_path().exists());

    let output = failback(dir.path(), &["force-unlock", "--force", &id]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(stderr(&output).contains(&format!(
        "Removed the lock held for apply by {}",
        holder.who
    )));
    assert!(!backend.lock_path().exists());
    // The run that held it can no longer write.
    let state = backend
        .read()
        .ok()
        .flatten()
        .unwrap_or_else(|| State::new("x"));
    assert!(backend.write(&guard, &state).is_err());

    let output = failback(dir.path(), &["force-unlock", "--force", &id]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("the state is not locked"));
}

#[test]
fn force_unlock_rejects_a_malformed_id() {
    let dir = tempfile::tempdir().unwrap_or_else(|err| panic!("tempdir: {err}"));
    let output = failback(dir.path(), &["force-unlock", "--force", "not-a-uuid"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("invalid value 'not-a-uuid'"));
}

fn stored(backend: &LocalBackend) -> State {
    backend
        .read()
        .unwrap_or_else(|err| panic!("{err}"))
        .unwrap_or_else(|| panic!("the state is gone"))
}

#[test]
fn rm_forgets_addresses_and_writes_the_next_serial() {
    let (dir, backend) = dir_with_state();
    let before = stored(&backend);
    let output = failback(
        dir.path(),
        &["state", "rm", "reprotect.web01", "reprotect.app[\"db01\"]"],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let err = stderr(&output);
    assert!(
        err.contains("Removed reprotect.web01 from the state."),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "2 addresses forgotten (serial {} -> {}); nothing in vCenter or the vault was changed.",
            before.serial,
            before.serial + 1
        )),
        "{err}"
    );
    let after = stored(&backend);
    assert_eq!(after.lineage, before.lineage);
    assert_eq!(after.serial, before.serial + 1);
    assert_eq!(
        after.resources.keys().collect::<Vec<_>>(),
        ["vcenter.vm_snapshots.web02"]
    );
    assert!(!backend.lock_path().exists(), "the lock is released");
    let output = failback(dir.path(), &["state", "list"]);
    assert_eq!(stdout(&output), "vcenter.vm_snapshots.web02  in progress\n");
}

#[test]
fn rm_of_an_unknown_address_removes_nothing() {
    let (dir, backend) = dir_with_state();
    let before = stored(&backend);
    let output = failback(
        dir.path(),
        &["state", "rm", "reprotect.web01", "reprotect.web1"],
    );
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(
        err.contains("no address reprotect.web1 in the state"),
        "{err}"
    );
    assert_eq!(stored(&backend), before);
}

#[test]
fn rm_keeps_an_action_in_progress_unless_forced() {
    let (dir, backend) = dir_with_state();
    let before = stored(&backend);
    let output = failback(dir.path(), &["state", "rm", "vcenter.vm_snapshots.web02"]);
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(
        err.contains(
            "vcenter.vm_snapshots.web02 is still in progress (remote ids: vsphere task task-1042)"
        ),
        "{err}"
    );
    assert!(err.contains("--force"), "{err}");
    assert_eq!(stored(&backend), before);

    let output = failback(
        dir.path(),
        &["state", "rm", "--force", "vcenter.vm_snapshots.web02"],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(stored(&backend).get("vcenter.vm_snapshots.web02").is_none());
}

#[test]
fn rm_dry_run_changes_nothing() {
    let (dir, backend) = dir_with_state();
    let before = stored(&backend);
    let output = failback(dir.path(), &["state", "rm", "--dry-run", "reprotect.web01"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let err = stderr(&output);
    assert!(
        err.contains("Would remove reprotect.web01 from the state."),
        "{err}"
    );
    assert!(err.contains("Dry run: the state was not changed."), "{err}");
    assert_eq!(stored(&backend), before);
}

#[test]
fn rm_waits_for_a_held_lock_and_fails_naming_the_holder() {
    let (dir, backend) = dir_with_state();
    let before = stored(&backend);
    let holder = LockInfo::new(Operation::Apply, "0.1.0");
    let _guard = backend
        .lock(holder.clone(), Duration::ZERO)
        .unwrap_or_else(|err| panic!("{err}"));
    let output = failback(
        dir.path(),
        &["state", "rm", "--lock-timeout", "1s", "reprotect.web01"],
    );
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(err.contains(&holder.who), "{err}");
    assert_eq!(stored(&backend), before);
}
