//! Tests of the local backend: atomic writes, modes, lineage and serial checks,
//! refused files, and locking across threads and processes.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::Instant;

use chrono::DateTime;
use serde_json::json;

use super::*;
use crate::state::backend::Operation;
use crate::state::model::{Outcome, RemoteId, ResourceState};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn backend() -> (tempfile::TempDir, LocalBackend) {
    let dir = tempfile::tempdir().unwrap_or_else(|err| panic!("tempdir: {err}"));
    let backend = LocalBackend::new(dir.path().join(DEFAULT_STATE_FILE));
    (dir, backend)
}

fn info() -> LockInfo {
    LockInfo::new(Operation::Apply, "0.1.0-test")
}

fn state_with(address: &str) -> State {
    let mut state = State::new("0.1.0-test");
    state.bump("0.1.0-test");
    let resource = ResourceState {
        address: address.to_owned(),
        kind: "asr.protected_item.reprotect".to_owned(),
        inputs: json!({"vm": "web01", "password": "(sensitive value)"}),
        outcome: Outcome::Applied,
        remote_ids: vec![RemoteId::AsrJob("job-1".to_owned())],
        started_at: DateTime::UNIX_EPOCH,
        finished_at: Some(DateTime::UNIX_EPOCH),
    };
    if let Err(err) = state.upsert(resource) {
        panic!("{err}");
    }
    state
}

#[test]
fn reading_a_missing_file_is_an_empty_history() -> TestResult {
    let (_dir, backend) = backend();
    assert_eq!(backend.read()?, None);
    assert_eq!(backend.lock_holder()?, None);
    Ok(())
}

#[test]
fn writes_round_trip_with_mode_0600_and_keep_a_backup() -> TestResult {
    let (_dir, backend) = backend();
    let guard = backend.lock(info(), Duration::ZERO)?;
    let mut state = state_with("reprotect.web01");
    backend.write(&guard, &state)?;
    assert_eq!(backend.read()?.as_ref(), Some(&state));
    assert!(!backend.backup_path().exists());
    let first = fs::read(backend.path())?;

    state.bump("0.1.0-test");
    backend.write(&guard, &state)?;
    assert_eq!(backend.read()?.map(|s| s.serial), Some(2));
    assert_eq!(fs::read(backend.backup_path())?, first);

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for path in [backend.path(), backend.backup_path(), backend.lock_path()] {
            let mode = fs::metadata(path)?.permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", path.display());
        }
    }
    Ok(())
}

#[test]
fn a_crash_between_temp_write_and_rename_leaves_the_old_state() -> TestResult {
    let (dir, backend) = backend();
    let guard = backend.lock(info(), Duration::ZERO)?;
    let state = state_with("reprotect.web01");
    backend.write(&guard, &state)?;
    let before = fs::read(backend.path())?;

    let mut next = state.clone();
    next.bump("0.1.0-test");
    let text = serde_json::to_vec_pretty(&next)?;
    // What `write` does, stopped after the temporary file is on disk.
    let prepared = atomic::prepare(backend.path(), &text, atomic::owner_only())?;
    std::mem::forget(prepared); // the process "dies": no cleanup, no rename
    assert_eq!(fs::read(backend.path())?, before);
    assert_eq!(backend.read()?, Some(state.clone()));
    // The leftover temporary file does not disturb the next write.
    assert!(fs::read_dir(dir.path())?.count() >= 3);
    backend.write(&guard, &next)?;
    assert_eq!(backend.read()?.map(|s| s.serial), Some(next.serial));
    Ok(())
}

#[test]
fn other_lineages_and_stale_serials_are_refused_and_change_nothing() -> TestResult {
    let (_dir, backend) = backend();
    let guard = backend.lock(info(), Duration::ZERO)?;
    let state = state_with("reprotect.web01");
    backend.write(&guard, &state)?;
    let before = fs::read(backend.path())?;

    let mut stale = state.clone();
    stale.resources.clear();
    let err = backend.write(&guard, &stale).err();
    assert!(
        matches!(
            err,
            Some(StateError::StaleSerial {
                stored: 1,
                writing: 1
            })
        ),
        "{err:?}"
    );

    let mut other = state_with("reprotect.db01");
    other.bump("x");
    let err = backend.write(&guard, &other).err();
    assert!(
        matches!(err, Some(StateError::LineageMismatch { .. })),
        "{err:?}"
    );
    assert_eq!(fs::read(backend.path())?, before);
    Ok(())
}

#[test]
fn corrupt_and_foreign_files_are_refused_and_never_overwritten() -> TestResult {
    let cases: [(&str, &str); 6] = [
        ("", "empty"),
        ("{\"format_version\": 1, \"lineage\": \"0fd0", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        (
            "{\"version\": 4, \"terraform_version\": \"1.9.0\", \"serial\": 3, \"lineage\": \"0b7c0a2e-6f0e-4d7e-9d55-7f3c8a1b2c3d\"}",
            "no format_version",
        ),
        ("{\"format_version\": 1, \"serial\": 3}", "no valid lineage"),
        (
            "{\"format_version\": 1, \"lineage\": \"0b7c0a2e-6f0e-4d7e-9d55-7f3c8a1b2c3d\", \"serial\": \"x\"}",
            "serial",
        ),
    ];
    for (content, expected) in cases {
        let (_dir, backend) = backend();
        fs::write(backend.path(), content)?;
        let err = backend
            .read()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("is not a failback state file"),
            "{content}: {err}"
        );
        assert!(err.contains(expected), "{content}: {err}");
        let guard = backend.lock(info(), Duration::ZERO)?;
        let write = backend.write(&guard, &state_with("reprotect.web01"));
        assert!(
            matches!(write, Err(StateError::Corrupt { .. })),
            "{write:?}"
        );
        assert_eq!(fs::read_to_string(backend.path())?, content);
        assert!(!backend.backup_path().exists());
    }
    Ok(())
}

#[test]
fn a_newer_format_version_names_the_version_that_wrote_it() -> TestResult {
    let (_dir, backend) = backend();
    let content = "{\"format_version\": 2, \"tool_version\": \"9.0.0\", \"lineage\": \"0b7c0a2e-6f0e-4d7e-9d55-7f3c8a1b2c3d\"}";
    fs::write(backend.path(), content)?;
    let err = backend
        .read()
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("format version 2") && err.contains("9.0.0"),
        "{err}"
    );
    let guard = backend.lock(info(), Duration::ZERO)?;
    assert!(
        backend
            .write(&guard, &state_with("reprotect.web01"))
            .is_err()
    );
    assert_eq!(fs::read_to_string(backend.path())?, content);
    Ok(())
}

#[test]
fn a_state_holding_a_secret_is_never_written() -> TestResult {
    let (_dir, backend) = backend();
    let guard = backend.lock(info(), Duration::ZERO)?;
    let mut state = state_with("reprotect.web01");
    if let Some(resource) = state.resources.get_mut("reprotect.web01") {
        resource.inputs = json!({"access_token": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln"});
    }
    let err = backend.write(&guard, &state).err();
    assert!(matches!(err, Some(StateError::Secret(_))), "{err:?}");
    assert!(!backend.path().exists());
    Ok(())
}

#[test]
fn a_second_locker_waits_then_fails_naming_the_holder() -> TestResult {
    let (_dir, backend) = backend();
    let holder = info();
    let guard = backend.lock(holder.clone(), Duration::ZERO)?;
    assert_eq!(backend.lock_holder()?, Some(holder.clone()));

    let contender = backend.clone();
    let result = thread::spawn(move || {
        contender
            .lock(
                LockInfo::new(Operation::Plan, "x"),
                Duration::from_millis(200),
            )
            .map(|_| ())
    })
    .join()
    .map_err(|_| "contender panicked")?;
    match result {
        Err(StateError::Locked {
            holder: named,
            waited_s,
        }) => {
            assert_eq!(named, holder);
            assert!(waited_s > 0.0);
            let message = StateError::Locked {
                holder: named,
                waited_s,
            }
            .to_string();
            assert!(message.contains(&holder.who), "{message}");
            assert!(message.contains("apply"), "{message}");
            assert!(message.contains(&format!("failback force-unlock {}", holder.id)));
        }
        other => panic!("expected Locked, got {other:?}"),
    }

    // Released while another waits: the waiter gets it.
    let waiter = backend.clone();
    let handle = thread::spawn(move || {
        waiter
            .lock(info(), Duration::from_secs(30))
            .map(|g| g.info().id)
    });
    thread::sleep(Duration::from_millis(100));
    drop(guard);
    let got = handle.join().map_err(|_| "waiter panicked")??;
    assert_ne!(got, holder.id);
    Ok(())
}

#[test]
fn releasing_removes_the_lock_file() -> TestResult {
    let (_dir, backend) = backend();
    let guard = backend.lock(info(), Duration::ZERO)?;
    assert!(backend.lock_path().exists());
    drop(guard);
    assert!(!backend.lock_path().exists());
    assert_eq!(backend.lock_holder()?, None);
    Ok(())
}

#[test]
fn force_unlock_needs_the_right_id() -> TestResult {
    let (_dir, backend) = backend();
    assert!(matches!(
        backend.force_unlock(Uuid::new_v4()),
        Err(StateError::NotLocked)
    ));

    let holder = info();
    let guard = backend.lock(holder.clone(), Duration::ZERO)?;
    let wrong = Uuid::new_v4();
    match backend.force_unlock(wrong) {
        Err(err @ StateError::LockIdMismatch { .. }) => {
            let message = err.to_string();
            assert!(message.contains(&wrong.to_string()) && message.contains(&holder.who));
        }
        other => panic!("expected LockIdMismatch, got {other:?}"),
    }
    assert_eq!(backend.lock_holder()?, Some(holder.clone()));

    assert_eq!(backend.force_unlock(holder.id)?, holder);
    // A new run can lock now; the old holder can no longer write.
    let new_guard = backend.lock(info(), Duration::ZERO)?;
    let err = backend.write(&guard, &state_with("reprotect.web01")).err();
    assert!(matches!(err, Some(StateError::LockLost { .. })), "{err:?}");
    // The old holder's release leaves the new lock in place.
    drop(guard);
    assert_eq!(backend.lock_holder()?, Some(new_guard.info().clone()));
    backend.write(&new_guard, &state_with("reprotect.web01"))?;
    Ok(())
}

#[test]
fn a_guard_from_another_backend_is_refused() -> TestResult {
    let (_dir, one) = backend();
    let (_dir2, two) = backend();
    let guard = one.lock(info(), Duration::ZERO)?;
    let err = two.write(&guard, &state_with("reprotect.web01")).err();
    assert!(
        matches!(err, Some(StateError::ForeignGuard { .. })),
        "{err:?}"
    );
    Ok(())
}

#[test]
fn stale_holder_information_without_a_holder_is_taken_over() -> TestResult {
    let (_dir, backend) = backend();
    let dead = info();
    fs::write(backend.lock_path(), serde_json::to_vec(&dead)?)?;
    assert_eq!(backend.lock_holder()?, None);
    let guard = backend.lock(info(), Duration::ZERO)?;
    assert_ne!(guard.info().id, dead.id);
    Ok(())
}

// ---- across processes -------------------------------------------------------------

const CHILD_ENV: &str = "FAILBACK_TEST_LOCK_CHILD_STATE";

/// Not a test on its own: the child process of the cross-process tests. It takes
/// the lock on the state file named by `CHILD_ENV`, prints `LOCKED <id>`, and holds
/// the lock until its stdin closes.
#[test]
#[ignore = "run by the cross-process lock tests as a child process"]
fn lock_holder_child_process() -> TestResult {
    let Some(path) = std::env::var_os(CHILD_ENV) else {
        return Ok(());
    };
    // Whatever happens to the parent, this child does not outlive the test run.
    thread::spawn(|| {
        thread::sleep(Duration::from_secs(60));
        std::process::exit(1);
    });
    let backend = LocalBackend::new(PathBuf::from(path));
    let guard = backend.lock(LockInfo::new(Operation::Apply, "child"), Duration::ZERO)?;
    println!("LOCKED {}", guard.info().id);
    let mut sink = String::new();
    std::io::stdin().read_to_string(&mut sink)?;
    drop(guard);
    Ok(())
}

/// Starts the child holding the lock and waits until it has it.
fn spawn_lock_holder(backend: &LocalBackend) -> Result<(Child, Uuid), Box<dyn std::error::Error>> {
    let mut child = Command::new(std::env::current_exe()?)
        .args([
            "--exact",
            "state::local::tests::lock_holder_child_process",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, backend.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    for line in BufReader::new(stdout).lines() {
        // libtest prints the test name on the same line.
        if let Some((_, id)) = line?.split_once("LOCKED ") {
            return Ok((child, Uuid::parse_str(id.trim())?));
        }
    }
    let _ = child.kill();
    Err("the child exited without taking the lock".into())
}

/// Waits for the child to exit, killing it after a generous bound.
fn reap(mut child: Child) -> TestResult {
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait()?.is_none() {
        if Instant::now() > deadline {
            child.kill()?;
            return Err("child did not exit".into());
        }
        thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

#[test]
fn a_lock_held_by_another_process_blocks_until_released() -> TestResult {
    let (_dir, backend) = backend();
    let (mut child, child_id) = spawn_lock_holder(&backend)?;

    let err = backend.lock(info(), Duration::from_millis(150)).err();
    match &err {
        Some(StateError::Locked { holder, .. }) => {
            assert_eq!(holder.id, child_id);
            assert_eq!(holder.operation, Operation::Apply);
            assert_eq!(holder.version, "child");
        }
        other => panic!("expected Locked, got {other:?}"),
    }

    drop(child.stdin.take()); // the child releases and exits
    let guard = backend.lock(info(), Duration::from_secs(30))?;
    assert_ne!(guard.info().id, child_id);
    reap(child)
}

#[test]
fn a_killed_holder_releases_its_lock() -> TestResult {
    let (_dir, backend) = backend();
    let (mut child, child_id) = spawn_lock_holder(&backend)?;
    child.kill()?; // SIGKILL: no cleanup runs
    reap(child)?;
    // The lock file with the dead holder's information is still there...
    assert!(backend.lock_path().exists());
    // ...but the OS lock went with the process.
    assert_eq!(backend.lock_holder()?, None);
    let guard = backend.lock(info(), Duration::ZERO)?;
    assert_ne!(guard.info().id, child_id);
    Ok(())
}
