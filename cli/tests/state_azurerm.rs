//! The `azurerm` state backend through the real binary: `apply` of examples/basic
//! against both simulators with its state in Azurite instead of a local file, then
//! `state list`, `plan`, a lock held by another run, `force-unlock` and `state rm`.

mod support {
    pub mod sim;
}

use std::time::Duration;

use failback_engine::state::{
    AzureBlobBackend, AzureBlobLocation, LockInfo, Operation, StateBackend,
};
use failback_sim::azurite::{AZURITE_ACCOUNT, AZURITE_KEY, Azurite};
use support::sim::{COMMAND_DEADLINE, Run, SimWorld, wait_bounded};

const CONTAINER: &str = "failback-state";
const KEY: &str = "basic/failback.state.json";

/// Runs `failback ARGS...` with the access key in ARM_ACCESS_KEY (the HCL has none).
fn run(world: &SimWorld, args: &[&str]) -> Run {
    let child = world
        .command(args)
        .env("ARM_ACCESS_KEY", AZURITE_KEY)
        .spawn()
        .unwrap_or_else(|err| panic!("failback starts: {err}"));
    wait_bounded(child, COMMAND_DEADLINE)
}

#[test]
fn apply_with_azurerm_state_then_state_list_shows_the_reprotect() {
    let azurite = Azurite::start().unwrap_or_else(|err| panic!("{err}"));
    let world = SimWorld::start("basic", |_| {});

    let main = world.dir.path().join("main.hcl");
    let text = std::fs::read_to_string(&main).unwrap_or_else(|err| panic!("{err}"));
    let local_block = "  state \"local\" {\n    path = \"failback.state.json\"\n  }\n";
    assert!(
        text.contains(local_block),
        "examples/basic changed its state block"
    );
    let azurerm_block = format!(
        "  state \"azurerm\" {{\n    storage_account_name = \"{AZURITE_ACCOUNT}\"\n    container_name       = \"{CONTAINER}\"\n    key                  = \"{KEY}\"\n    endpoint             = \"{}\"\n  }}\n",
        azurite.endpoint()
    );
    std::fs::write(&main, text.replace(local_block, &azurerm_block))
        .unwrap_or_else(|err| panic!("{err}"));

    let backend = AzureBlobBackend::open(
        AzureBlobLocation {
            storage_account_name: AZURITE_ACCOUNT.to_owned(),
            container_name: CONTAINER.to_owned(),
            key: KEY.to_owned(),
            endpoint: Some(azurite.endpoint()),
        },
        Some(AZURITE_KEY),
        |_| None,
    )
    .unwrap_or_else(|err| panic!("{err}"));
    backend
        .create_container()
        .unwrap_or_else(|err| panic!("{err}"));

    let apply = run(&world, &["apply", "--auto-approve"]);
    assert_eq!(apply.code, Some(0), "{}", apply.text());
    assert!(apply.stderr.contains("Apply complete!"), "{}", apply.text());
    assert!(
        !world.state_path().exists(),
        "the state went to a local file, not to the blob"
    );
    let state = backend
        .read()
        .unwrap_or_else(|err| panic!("{err}"))
        .unwrap_or_else(|| panic!("apply wrote no state to the blob"));
    let reprotects: Vec<&String> = state
        .resources
        .iter()
        .filter(|(_, resource)| resource.kind == "asr.protected_item.reprotect")
        .map(|(address, _)| address)
        .collect();
    assert!(!reprotects.is_empty(), "no reprotect in {state:?}");
    assert_eq!(
        backend.lock_holder().ok(),
        Some(None),
        "apply left its lock"
    );

    let list = run(&world, &["state", "list"]);
    assert_eq!(list.code, Some(0), "{}", list.text());
    for address in &reprotects {
        assert!(list.stdout.contains(address.as_str()), "{}", list.text());
    }

    let plan = run(&world, &["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, Some(0), "{}", plan.text());
    assert!(plan.stdout.contains("No changes."), "{}", plan.text());

    // Another run holds the lock: apply fails naming it, force-unlock removes it.
    let holder = backend
        .lock(
            LockInfo::new(Operation::Apply, "0.0.1-other"),
            Duration::ZERO,
        )
        .unwrap_or_else(|err| panic!("{err}"));
    let id = holder.info().id.to_string();
    let blocked = run(&world, &["apply", "--auto-approve"]);
    assert_ne!(blocked.code, Some(0), "{}", blocked.text());
    // The diagnostic wraps lines at the terminal width, anywhere: compare without
    // any whitespace or frame.
    let squeezed: String = blocked
        .text()
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '│')
        .collect();
    for expected in [
        "thestateislocked:applyby".to_owned(),
        "(failback0.0.1-other".to_owned(),
        format!("run`failbackforce-unlock{id}`"),
    ] {
        assert!(squeezed.contains(&expected), "{}", blocked.text());
    }
    let unlock = run(&world, &["force-unlock", "--force", &id]);
    assert_eq!(unlock.code, Some(0), "{}", unlock.text());
    assert_eq!(backend.lock_holder().ok(), Some(None));
    drop(holder);

    // Forgetting the reprotects writes the next serial under the blob's lease.
    let serial = backend
        .read()
        .ok()
        .flatten()
        .map(|state| state.serial)
        .unwrap_or_default();
    let mut rm_args = vec!["state", "rm"];
    rm_args.extend(reprotects.iter().map(|address| address.as_str()));
    let rm = run(&world, &rm_args);
    assert_eq!(rm.code, Some(0), "{}", rm.text());
    let after = backend
        .read()
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!("the state blob is gone"));
    assert_eq!(after.serial, serial + 1);
    assert!(
        reprotects
            .iter()
            .all(|address| after.get(address.as_str()).is_none())
    );
    assert_eq!(
        backend.lock_holder().ok(),
        Some(None),
        "state rm left its lease"
    );

    for output in [&apply, &list, &plan, &blocked, &unlock, &rm] {
        assert!(!output.text().contains(AZURITE_KEY), "{}", output.text());
    }
}
