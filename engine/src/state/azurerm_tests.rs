//! Tests of the azurerm backend against a real Azurite blob service: round trips and
//! the backup, lease locking across backends, force-unlock, refused blobs (foreign,
//! other lineage, stale serial, secrets) and credentials kept out of every message.
//! They fail, saying how to install Azurite, when it is missing.

use std::time::Duration;

use chrono::DateTime;
use failback_sim::azurite::{AZURITE_ACCOUNT, AZURITE_KEY, Azurite};
use serde_json::json;

use super::*;
use crate::state::backend::Operation;
use crate::state::model::{Outcome, RemoteId, ResourceState};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn azurite() -> Azurite {
    Azurite::start().unwrap_or_else(|err| panic!("{err}"))
}

fn location(azurite: &Azurite, container: &str) -> AzureBlobLocation {
    AzureBlobLocation {
        storage_account_name: AZURITE_ACCOUNT.to_owned(),
        container_name: container.to_owned(),
        key: "env/prod.failback.json".to_owned(),
        endpoint: Some(azurite.endpoint()),
    }
}

/// A backend on a fresh container of `azurite`.
fn backend(azurite: &Azurite) -> AzureBlobBackend {
    let backend = AzureBlobBackend::open(location(azurite, "tfstate"), Some(AZURITE_KEY), |_| None)
        .unwrap_or_else(|err| panic!("{err}"));
    if let Err(err) = backend.create_container() {
        panic!("{err}");
    }
    backend
}

/// A second backend on the same blob, as another run would open it (the key from
/// ARM_ACCESS_KEY this time).
fn other_run(azurite: &Azurite) -> AzureBlobBackend {
    AzureBlobBackend::open(location(azurite, "tfstate"), None, |name| {
        (name == "ARM_ACCESS_KEY").then(|| AZURITE_KEY.to_owned())
    })
    .unwrap_or_else(|err| panic!("{err}"))
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

/// Puts raw bytes at the state blob, as something other than failback would.
fn put_foreign(backend: &AzureBlobBackend, bytes: &[u8]) {
    let upload = crate::state::azurerm_blob::Upload::default();
    if let Err(err) = backend
        .client
        .upload(&backend.blob_url, bytes.to_vec(), upload)
    {
        panic!("{err}");
    }
}

fn raw(backend: &AzureBlobBackend) -> Vec<u8> {
    match backend.get(&backend.blob_url) {
        Ok(Some(bytes)) => bytes,
        other => panic!("no blob: {other:?}"),
    }
}

#[test]
fn writes_read_back_and_keep_a_backup() -> TestResult {
    let azurite = azurite();
    let backend = backend(&azurite);
    assert_eq!(backend.read()?, None);
    assert_eq!(backend.lock_holder()?, None);

    let guard = backend.lock(info(), Duration::ZERO)?;
    // Locking created an empty blob, which still reads as no state.
    assert_eq!(backend.read()?, None);
    let mut state = state_with("reprotect.web01");
    backend.write(&guard, &state)?;
    assert_eq!(backend.read()?.as_ref(), Some(&state));
    assert_eq!(backend.read_backup()?, None);
    let first = state.clone();

    state.bump("0.1.0-test");
    backend.write(&guard, &state)?;
    assert_eq!(backend.read()?.as_ref(), Some(&state));
    assert_eq!(backend.read_backup()?.as_ref(), Some(&first));
    // The lock information survives the uploads (Put Blob replaces metadata).
    assert_eq!(backend.lock_holder()?.as_ref(), Some(guard.info()));
    assert_eq!(other_run(&azurite).read()?.as_ref(), Some(&state));

    drop(guard);
    assert_eq!(backend.lock_holder()?, None);
    assert_eq!(backend.read()?.as_ref(), Some(&state));
    Ok(())
}

#[test]
fn a_second_lock_waits_then_fails_naming_the_holder() -> TestResult {
    let azurite = azurite();
    let first = backend(&azurite);
    let second = other_run(&azurite);
    let held = first.lock(info(), Duration::ZERO)?;
    assert_eq!(second.lock_holder()?.as_ref(), Some(held.info()));

    let started = std::time::Instant::now();
    let err = match second.lock(info(), Duration::from_millis(800)) {
        Err(err) => err,
        Ok(_) => panic!("a second lock was granted"),
    };
    assert!(started.elapsed() >= Duration::from_millis(800));
    match &err {
        StateError::Locked { holder, waited_s } => {
            assert_eq!(holder, held.info());
            assert!(*waited_s >= 0.8);
        }
        other => panic!("not Locked: {other:?}"),
    }
    let text = err.to_string();
    assert!(text.contains(&held.info().who), "{text}");
    assert!(
        text.contains(&format!("failback force-unlock {}", held.info().id)),
        "{text}"
    );

    // The holder's writes still work; the waiter gets the lock once it is released.
    first.write(&held, &state_with("reprotect.web01"))?;
    drop(held);
    let guard = second.lock(info(), Duration::from_secs(5))?;
    assert_eq!(first.lock_holder()?.as_ref(), Some(guard.info()));
    Ok(())
}

#[test]
fn force_unlock_refuses_a_wrong_id_and_releases_the_right_one() -> TestResult {
    let azurite = azurite();
    let backend = backend(&azurite);
    let operator = other_run(&azurite);
    assert!(matches!(
        operator.force_unlock(Uuid::new_v4()),
        Err(StateError::NotLocked)
    ));

    let held = backend.lock(info(), Duration::ZERO)?;
    let wrong = Uuid::new_v4();
    match operator.force_unlock(wrong) {
        Err(StateError::LockIdMismatch { given, holder }) => {
            assert_eq!(given, wrong);
            assert_eq!(&holder, held.info());
        }
        other => panic!("a wrong id was not refused: {other:?}"),
    }
    assert_eq!(operator.lock_holder()?.as_ref(), Some(held.info()));

    let removed = operator.force_unlock(held.info().id)?;
    assert_eq!(&removed, held.info());
    assert_eq!(operator.lock_holder()?, None);

    // The unlocked run can no longer write, and a new run can lock.
    match backend.write(&held, &state_with("reprotect.web01")) {
        Err(StateError::LockLost { .. }) => {}
        other => panic!("a force-unlocked run wrote: {other:?}"),
    }
    assert_eq!(backend.read()?, None);
    let next = operator.lock(info(), Duration::ZERO)?;
    // Dropping the old guard must not release the new holder's lease.
    drop(held);
    assert_eq!(backend.lock_holder()?.as_ref(), Some(next.info()));
    Ok(())
}

#[test]
fn a_foreign_blob_is_refused_and_left_intact() -> TestResult {
    let azurite = azurite();
    let backend = backend(&azurite);
    let foreign = b"# terraform state? a shopping list? not failback's\n";
    put_foreign(&backend, foreign);
    assert!(matches!(backend.read(), Err(StateError::Corrupt { .. })));

    let guard = backend.lock(info(), Duration::ZERO)?;
    match backend.write(&guard, &state_with("reprotect.web01")) {
        Err(StateError::Corrupt { path, .. }) => {
            assert!(path.to_string_lossy().ends_with("env/prod.failback.json"));
        }
        other => panic!("a foreign blob was overwritten: {other:?}"),
    }
    assert_eq!(raw(&backend), foreign);
    drop(guard);

    put_foreign(
        &backend,
        br#"{"format_version": 99, "tool_version": "9.0.0"}"#,
    );
    match backend.read() {
        Err(err @ StateError::UnsupportedFormat { .. }) => {
            assert!(err.to_string().contains("9.0.0"), "{err}");
        }
        other => panic!("a newer format was read: {other:?}"),
    }
    Ok(())
}

#[test]
fn another_lineage_a_stale_serial_and_a_secret_are_refused() -> TestResult {
    let azurite = azurite();
    let backend = backend(&azurite);
    let guard = backend.lock(info(), Duration::ZERO)?;
    let stored = state_with("reprotect.web01");
    backend.write(&guard, &stored)?;

    match backend.write(&guard, &stored) {
        Err(StateError::StaleSerial {
            stored: 1,
            writing: 1,
        }) => {}
        other => panic!("a stale serial was written: {other:?}"),
    }
    let mut other = state_with("reprotect.web02");
    other.serial = 7;
    match backend.write(&guard, &other) {
        Err(StateError::LineageMismatch { stored: s, writing }) => {
            assert_eq!((s, writing), (stored.lineage, other.lineage));
        }
        other => panic!("another lineage was written: {other:?}"),
    }
    let mut leaky = stored.clone();
    leaky.bump("0.1.0-test");
    if let Some(resource) = leaky.resources.get_mut("reprotect.web01") {
        resource.inputs = json!({"vm": "web01", "password": "hunter2-in-clear"});
    }
    match backend.write(&guard, &leaky) {
        Err(err @ StateError::Secret(_)) => {
            assert!(!err.to_string().contains("hunter2"), "{err}");
        }
        other => panic!("a secret was written: {other:?}"),
    }
    assert_eq!(backend.read()?.as_ref(), Some(&stored));
    assert_eq!(backend.read_backup()?, None);
    Ok(())
}

#[test]
fn credentials_never_show_in_errors_or_debug_output() -> TestResult {
    let azurite = azurite();
    let good = backend(&azurite);
    let guard = good.lock(info(), Duration::ZERO)?;
    for text in [format!("{good:?}"), format!("{guard:?}")] {
        assert!(!text.contains(AZURITE_KEY), "{text}");
    }
    drop(guard);

    // A valid key of another account: the service refuses every request.
    let wrong_key = "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXktd3Jvbmcta2V5LXdyb25nLWtleQ==";
    let wrong = AzureBlobBackend::open(location(&azurite, "tfstate"), Some(wrong_key), |_| None)?;
    let errors = [
        wrong.read().map(|_| ()),
        wrong.lock(info(), Duration::ZERO).map(|_| ()),
        wrong.lock_holder().map(|_| ()),
        wrong.force_unlock(Uuid::new_v4()).map(|_| ()),
    ];
    for result in errors {
        let err = match result {
            Err(err) => err,
            Ok(()) => panic!("a wrong key was accepted"),
        };
        let text = format!("{err} {err:?}");
        assert!(text.contains("403"), "{text}");
        assert!(text.contains("access key"), "{text}");
        for secret in [wrong_key, AZURITE_KEY] {
            assert!(!text.contains(secret), "{text}");
        }
    }
    Ok(())
}

#[test]
fn a_missing_container_says_how_to_create_it() {
    let azurite = azurite();
    let backend = AzureBlobBackend::open(location(&azurite, "nosuch"), Some(AZURITE_KEY), |_| None)
        .unwrap_or_else(|err| panic!("{err}"));
    for result in [
        backend.read().map(|_| ()),
        backend.lock(info(), Duration::ZERO).map(|_| ()),
    ] {
        let text = match result {
            Err(err) => err.to_string(),
            Ok(()) => panic!("a missing container was used"),
        };
        assert!(
            text.contains("az storage container create --name nosuch"),
            "{text}"
        );
    }
}

#[test]
fn an_unreachable_endpoint_fails_in_bounded_time() {
    // A port nothing listens on: connection refused, quickly.
    let port = {
        let listener =
            std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|err| panic!("{err}"));
        listener
            .local_addr()
            .map(|a| a.port())
            .unwrap_or_else(|err| panic!("{err}"))
    };
    let backend = AzureBlobBackend::open(
        AzureBlobLocation {
            storage_account_name: AZURITE_ACCOUNT.to_owned(),
            container_name: "tfstate".to_owned(),
            key: "k".to_owned(),
            endpoint: Some(format!("http://127.0.0.1:{port}/{AZURITE_ACCOUNT}")),
        },
        Some(AZURITE_KEY),
        |_| None,
    )
    .unwrap_or_else(|err| panic!("{err}"));
    match backend.read() {
        Err(StateError::Remote { reason, .. }) => assert!(reason.contains("connect"), "{reason}"),
        other => panic!("{other:?}"),
    }
}

/// The CLI calls the backend from async code (through `spawn_blocking`, but also
/// directly) and drops it there: neither may panic about nested runtimes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn works_and_drops_inside_a_tokio_runtime() -> TestResult {
    let azurite = azurite();
    let backend = backend(&azurite);
    let guard = backend.lock(info(), Duration::ZERO)?;
    backend.write(&guard, &state_with("reprotect.web01"))?;
    let backend = Arc::new(backend);
    let reader = Arc::clone(&backend);
    let read = tokio::task::spawn_blocking(move || reader.read()).await??;
    assert!(read.is_some());
    drop(guard);
    drop(backend);
    Ok(())
}

#[test]
fn open_backend_builds_it_from_the_configuration() -> TestResult {
    use crate::config::model::{Sensitive, StateBackend as StateBackendConfig};
    let azurite = azurite();
    let _container = backend(&azurite);
    let config = StateBackendConfig::Azurerm {
        storage_account_name: AZURITE_ACCOUNT.to_owned(),
        container_name: "tfstate".to_owned(),
        key: "env/prod.failback.json".to_owned(),
        endpoint: Some(azurite.endpoint()),
        access_key: Some(Sensitive::new(AZURITE_KEY.to_owned())),
    };
    let backend = crate::state::open_backend(&config, std::path::Path::new("/unused"))?;
    assert_eq!(
        backend.describe(),
        format!(
            "azurerm blob {}/tfstate/env/prod.failback.json",
            azurite.endpoint()
        )
    );
    assert_eq!(backend.read()?, None);
    assert!(!format!("{backend:?}").contains(AZURITE_KEY));
    Ok(())
}
