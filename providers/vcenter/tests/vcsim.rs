//! The provider against VMware's own simulator (the `sim/vcsim` harness, one process per
//! test because vcsim keeps global state): every shape the rules read, both actions and
//! their idempotence, an injected task failure, credentials, trust and a server killed
//! mid-call.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use failback_engine::config::model::Sensitive;
use failback_engine::observe::vcenter::VcenterInventory;
use failback_engine::provider::{
    ActionOutcome, NoProgress, Progress, ProgressSink, Provider, ProviderAction, ProviderError,
};
use failback_provider_vcenter::{
    Thumbprint, TlsOptions, VcenterError, VcenterProvider, VcenterSettings,
};
use failback_sim::estate::Estate;
use failback_sim::vcsim::Vcsim;

const ADMIN: &str = "administrator@vsphere.local";
const ADMIN_PASSWORD: &str = "VMware1!";

fn estate(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/estates")
        .join(name)
}

fn start() -> Vcsim {
    Vcsim::start(&estate("vcenter-shapes.json"))
        .unwrap_or_else(|err| panic!("harness did not start: {err}"))
}

fn settings(sim: &Vcsim, user: &str, password: &str) -> VcenterSettings {
    let mut settings =
        VcenterSettings::new(&sim.url, user, Sensitive::new(password.to_string())).unwrap();
    settings.tls = TlsOptions {
        ca_file: Some(sim.ca_file.clone()),
        ..TlsOptions::default()
    };
    settings.timeouts.request = Duration::from_secs(60);
    settings.timeouts.task = Duration::from_secs(30);
    settings
}

fn admin(sim: &Vcsim) -> VcenterProvider {
    VcenterProvider::new("vcenter.onprem", settings(sim, ADMIN, ADMIN_PASSWORD)).unwrap()
}

/// The inventory with every id replaced by the object's name, for a stable snapshot.
fn by_name(inventory: &VcenterInventory) -> String {
    let host = |id: &str| {
        inventory
            .host(id)
            .map(|h| h.name.clone())
            .unwrap_or_else(|| format!("?{id}"))
    };
    let ds = |id: &str| {
        inventory
            .datastore(id)
            .map(|d| d.name.clone())
            .unwrap_or_else(|| "(not visible)".into())
    };
    let vm = |id: &str| {
        inventory
            .vms
            .iter()
            .find(|v| v.id == id)
            .map(|v| v.name.clone())
            .unwrap_or_default()
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "vCenter {} ({}), user {}",
        inventory.about.version, inventory.about.api_type, inventory.session_user
    );
    for h in &inventory.hosts {
        let dss: Vec<_> = h.datastores.iter().map(|d| ds(d)).collect();
        let _ = writeln!(
            out,
            "host {} cluster={:?} version={} state={} licence={:?} datastores={dss:?}",
            h.name, h.cluster, h.version, h.connection_state, h.license_edition
        );
    }
    for d in &inventory.datastores {
        let pod = d
            .storage_pod
            .as_deref()
            .and_then(|p| inventory.storage_pod(p))
            .map(|p| p.name.clone());
        let mounts: Vec<_> = d
            .mounts
            .iter()
            .map(|m| {
                format!(
                    "{}:{}{}{}",
                    host(&m.host),
                    m.access_mode,
                    if m.mounted { "" } else { ",unmounted" },
                    if m.accessible { "" } else { ",inaccessible" }
                )
            })
            .collect();
        let _ = writeln!(
            out,
            "datastore {} {} capacity={}GiB free={}GiB pod={pod:?} mounts={mounts:?}",
            d.name,
            d.kind,
            d.capacity_bytes >> 30,
            d.free_bytes >> 30
        );
    }
    for p in &inventory.storage_pods {
        let overrides: Vec<_> = p
            .vm_overrides
            .iter()
            .map(|(id, b)| format!("{}={b}", vm(id)))
            .collect();
        let _ = writeln!(
            out,
            "pod {} sdrs={} default={} overrides={overrides:?}",
            p.name, p.sdrs_enabled, p.default_vm_behavior
        );
    }
    for v in &inventory.vms {
        let disks: Vec<_> = v
            .disks
            .iter()
            .map(|d| {
                format!(
                    "{}GiB@{} uuid={}",
                    d.capacity_bytes >> 30,
                    d.datastore.as_deref().map(ds).unwrap_or_default(),
                    d.uuid.as_deref().unwrap_or("-")
                )
            })
            .collect();
        let dss: Vec<_> = v.datastores.iter().map(|d| ds(d)).collect();
        let _ = writeln!(
            out,
            "vm {} guest={} host={} power={} bios={} scsi={:?} tools={} snapshots={:?} extra={:?} datastores={dss:?} disks={disks:?}",
            v.name,
            v.guest_id,
            v.host.as_deref().map(host).unwrap_or_default(),
            v.power_state,
            v.bios_uuid,
            v.scsi_controllers,
            v.tools_running_status,
            v.snapshots,
            v.extra_config,
        );
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_sees_every_shape_the_rules_need() {
    let sim = start();
    let provider = admin(&sim);
    let inventory = provider.inventory().await.unwrap();
    insta::assert_snapshot!("vcsim_shapes_by_name", by_name(&inventory));

    let app = inventory.vm_by_name("app-win-01").unwrap();
    assert_eq!(app.snapshots, ["pre-failover", "after-patch"]);
    assert_eq!(
        app.extra_config.get("disk.EnableUUID").map(String::as_str),
        Some("FALSE")
    );
    assert_eq!(app.scsi_controllers, ["VirtualLsiLogicSASController"]);
    let db = inventory.vm_by_name("db-lnx-01").unwrap();
    assert!(db.snapshots.is_empty() && !db.extra_config.contains_key("disk.EnableUUID"));
    assert_eq!(db.scsi_controllers, ["VirtualLsiLogicController"]);
    assert_eq!(db.tools_running_status, "guestToolsNotRunning");
    let mt = inventory.vm_by_name("asr-mt-01").unwrap();
    assert_eq!(mt.scsi_controllers, ["ParaVirtualSCSIController"]);
    assert_eq!(
        mt.extra_config.get("disk.EnableUUID").map(String::as_str),
        Some("TRUE")
    );

    let gold = inventory.datastore_by_name("vmfs-gold-01").unwrap();
    let pod = inventory
        .storage_pod(gold.storage_pod.as_deref().unwrap())
        .unwrap();
    assert!(pod.sdrs_enabled);
    let mt2 = inventory.vm_by_name("asr-mt-02").unwrap();
    assert_eq!(
        pod.vm_overrides.get(&mt2.id).map(String::as_str),
        Some("disabled")
    );
    assert!(
        !pod.vm_overrides
            .get(&mt.id)
            .is_some_and(|b| b == "disabled" || b == "manual")
    );

    let local = inventory.datastore_by_name("vmfs-local-01").unwrap();
    let esx02 = inventory
        .hosts
        .iter()
        .find(|h| h.name == "esx02.lab.local")
        .unwrap();
    let mount = local.mounts.iter().find(|m| m.host == esx02.id).unwrap();
    assert_eq!(mount.access_mode, "readOnly");
    assert_eq!(inventory.datastore_by_name("nfs-01").unwrap().kind, "NFS");
    assert_eq!(local.kind, "VMFS");

    let esx03 = inventory
        .hosts
        .iter()
        .find(|h| h.name == "esx03.lab.local")
        .unwrap();
    assert_eq!(esx03.connection_state, "disconnected");
    assert_eq!(esx03.license_edition.as_deref(), Some("esx.vsphere.free"));
    assert_eq!(esx03.cluster, None);

    let root_privileges = inventory.privileges.values().next().unwrap();
    assert_eq!(root_privileges.len(), 5);
    assert!(root_privileges.values().all(|granted| *granted));

    // RetrieveServiceContent, Login, CreateContainerView, RetrievePropertiesEx,
    // DestroyView, QueryAssignedLicenses, HasPrivilegeOnEntities, Logout.
    assert_eq!(provider.client().round_trips(), 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_pages_give_the_same_inventory() {
    let sim = start();
    let whole = admin(&sim).inventory().await.unwrap();
    let mut paged_settings = settings(&sim, ADMIN, ADMIN_PASSWORD);
    paged_settings.page_size = 3;
    let paged = VcenterProvider::new("vcenter.onprem", paged_settings).unwrap();
    let inventory = paged.inventory().await.unwrap();
    assert_eq!(inventory, whole);
    let objects =
        whole.vms.len() + whole.hosts.len() + whole.datastores.len() + whole.storage_pods.len() + 3;
    let pages = objects.div_ceil(3) as u64;
    assert!(
        paged.client().round_trips() >= 7 + pages - 1,
        "{} round trips",
        paged.client().round_trips()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_user_sees_no_datastores_and_lacks_privileges() {
    let sim = start();
    let provider = VcenterProvider::new(
        "vcenter.onprem",
        settings(&sim, "readonly@vsphere.local", "ReadOnly1!"),
    )
    .unwrap();
    let inventory = provider.inventory().await.unwrap();
    assert_eq!(inventory.session_user, "readonly@vsphere.local");
    assert!(inventory.datastores.is_empty() && inventory.storage_pods.is_empty());
    assert!(!inventory.vms.is_empty() && !inventory.hosts.is_empty());
    let app = inventory.vm_by_name("app-win-01").unwrap();
    assert!(
        !app.datastores.is_empty(),
        "VMs still name their datastores"
    );
    assert!(
        app.datastores
            .iter()
            .all(|id| inventory.datastore(id).is_none())
    );
    let granted: Vec<_> = inventory
        .privileges
        .values()
        .flat_map(|privileges| {
            privileges
                .iter()
                .filter(|(_, granted)| **granted)
                .map(|(p, _)| p.clone())
        })
        .collect();
    assert!(
        !granted
            .iter()
            .any(|p| p == "Datastore.Browse" || p == "VirtualMachine.Config.AdvancedConfig"),
        "{granted:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn privileges_are_read_on_the_vms_a_fix_may_change() {
    // A permission on the master target asr-mt-01 leaves the administrator only
    // read access there; everywhere else the role from the root holds.
    let text = std::fs::read_to_string(estate("vcenter-shapes.json")).unwrap();
    let mut world = Estate::from_json(&text).unwrap();
    world.vcenter.users[0].vm_privileges.insert(
        "asr-mt-01".to_owned(),
        vec!["System.View".to_owned(), "System.Read".to_owned()],
    );
    let sim = Vcsim::start_estate(&world).unwrap();
    let provider = admin(&sim).with_privilege_checks_on(["asr-mt-01".to_owned()]);
    let inventory = provider.inventory().await.unwrap();
    let asked = |name: &str| {
        let vm = inventory.vm_by_name(name).unwrap();
        inventory.privileges.get(&vm.id).cloned()
    };
    let master_target = asked("asr-mt-01").expect("the named VM is asked about");
    assert!(master_target["System.Read"]);
    assert!(!master_target["VirtualMachine.Config.AdvancedConfig"]);
    assert!(!master_target["VirtualMachine.State.RemoveSnapshot"]);
    // VMs with snapshots are asked about too, whether named or not.
    let with_snapshots = asked("app-win-01").expect("a VM with snapshots is asked about");
    assert!(with_snapshots["VirtualMachine.State.RemoveSnapshot"]);
    assert!(asked("asr-mt-02").is_none() && asked("db-lnx-01").is_none());

    // And vCenter refuses the fix itself: a fault naming the privilege, no change.
    let err = provider
        .apply_action(
            &ProviderAction::VmSetExtraConfig {
                vm: "asr-mt-01".into(),
                key: "failback.note".into(),
                value: "x".into(),
            },
            &NoProgress,
        )
        .await
        .unwrap_err();
    let VcenterError::Fault { fault, message, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(fault, "NoPermission");
    assert!(
        message.contains("missing VirtualMachine.Config.AdvancedConfig on VirtualMachine:"),
        "{message}"
    );
    let ProviderError::Remote { help, .. } = ProviderError::from(err) else {
        panic!("a refusal is a remote error")
    };
    assert!(help.is_some_and(|help| help.contains("FB101")));
}

#[derive(Default)]
struct Recorder(Mutex<Vec<Progress>>);

impl ProgressSink for Recorder {
    fn report(&self, progress: Progress) {
        self.0.lock().unwrap().push(progress);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enable_uuid_end_to_end_and_idempotent() {
    let sim = start();
    let provider = admin(&sim);
    let action = ProviderAction::VmSetExtraConfig {
        vm: "app-win-01".into(),
        key: "disk.EnableUUID".into(),
        value: "TRUE".into(),
    };
    let progress = Recorder::default();
    let outcome = provider.apply(&action, &progress).await.unwrap();
    let ActionOutcome::Applied { remote_ids } = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(remote_ids.len(), 1);
    let last = progress.0.lock().unwrap().last().cloned().unwrap();
    assert_eq!(
        (last.percent, last.remote_id.as_ref()),
        (Some(100), remote_ids.first())
    );

    let inventory = provider.inventory().await.unwrap();
    let app = inventory.vm_by_name("app-win-01").unwrap();
    assert_eq!(
        app.extra_config.get("disk.EnableUUID").map(String::as_str),
        Some("TRUE")
    );
    assert_eq!(
        provider.apply(&action, &NoProgress).await.unwrap(),
        ActionOutcome::AlreadyDone
    );
    // Already TRUE from the start.
    let mt = ProviderAction::VmSetExtraConfig {
        vm: "asr-mt-01".into(),
        key: "disk.EnableUUID".into(),
        value: "TRUE".into(),
    };
    assert_eq!(
        provider.apply(&mt, &NoProgress).await.unwrap(),
        ActionOutcome::AlreadyDone
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remove_snapshots_end_to_end_with_progress_and_idempotent() {
    let sim = start();
    let provider = admin(&sim);
    // slow-01's tasks show `running` for a while before they finish.
    let action = ProviderAction::VmRemoveSnapshots {
        vm: "slow-01".into(),
    };
    let progress = Recorder::default();
    let outcome = provider.apply(&action, &progress).await.unwrap();
    assert!(
        matches!(outcome, ActionOutcome::Applied { .. }),
        "{outcome:?}"
    );
    let messages: Vec<_> = progress
        .0
        .lock()
        .unwrap()
        .iter()
        .map(|p| p.message.clone())
        .collect();
    assert!(
        messages.iter().any(|m| m.ends_with(": running")),
        "{messages:?}"
    );
    assert!(
        messages.last().unwrap().ends_with(": success"),
        "{messages:?}"
    );

    let inventory = provider.inventory().await.unwrap();
    assert!(
        inventory
            .vm_by_name("slow-01")
            .unwrap()
            .snapshots
            .is_empty()
    );
    assert_eq!(
        provider.apply(&action, &NoProgress).await.unwrap(),
        ActionOutcome::AlreadyDone
    );
    let never_had = ProviderAction::VmRemoveSnapshots {
        vm: "db-lnx-01".into(),
    };
    assert_eq!(
        provider.apply(&never_had, &NoProgress).await.unwrap(),
        ActionOutcome::AlreadyDone
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_task_surfaces_vsphere_message() {
    let sim = start();
    let provider = admin(&sim);
    let err = provider
        .apply_action(
            &ProviderAction::VmRemoveSnapshots {
                vm: "stuck-01".into(),
            },
            &NoProgress,
        )
        .await
        .unwrap_err();
    let VcenterError::TaskFailed { fault, message, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(fault, "GenericVmConfigFault");
    assert!(
        message.contains("Could not open/create change tracking file"),
        "{message}"
    );
    let inventory = provider.inventory().await.unwrap();
    assert_eq!(
        inventory.vm_by_name("stuck-01").unwrap().snapshots,
        ["held-by-backup"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_is_refused_without_echoing_it() {
    let sim = start();
    let provider =
        VcenterProvider::new("vcenter.onprem", settings(&sim, ADMIN, "not-the-password")).unwrap();
    let err = provider.discover().await.unwrap_err();
    assert!(matches!(err, ProviderError::Authentication(_)), "{err:?}");
    assert!(
        !err.to_string().contains("not-the-password")
            && !format!("{err:?}").contains("not-the-password")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trust_by_thumbprint_or_ca_and_refusal_shows_the_real_thumbprint() {
    let sim = start();
    let with_tls = |tls: TlsOptions| {
        let mut settings = settings(&sim, ADMIN, ADMIN_PASSWORD);
        settings.tls = tls;
        VcenterProvider::new("vcenter.onprem", settings).unwrap()
    };
    for pin in [&sim.thumbprint_sha256, &sim.thumbprint_sha1] {
        let tls = TlsOptions {
            thumbprint: Some(Thumbprint::parse(pin).unwrap()),
            ..TlsOptions::default()
        };
        with_tls(tls)
            .discover()
            .await
            .unwrap_or_else(|err| panic!("{pin}: {err}"));
    }
    let wrong = TlsOptions {
        thumbprint: Some(Thumbprint::parse(&"00".repeat(32)).unwrap()),
        ..TlsOptions::default()
    };
    let err = with_tls(wrong).discover().await.unwrap_err();
    assert!(matches!(err, ProviderError::Tls(_)), "{err:?}");
    assert!(err.to_string().contains(&sim.thumbprint_sha256), "{err}");

    let untrusted = with_tls(TlsOptions::default())
        .discover()
        .await
        .unwrap_err();
    assert!(
        untrusted.to_string().contains("not signed by a trusted CA"),
        "{untrusted}"
    );
    assert!(
        untrusted.to_string().contains(&sim.thumbprint_sha256),
        "{untrusted}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_mid_call_is_a_clear_error_within_the_timeout() {
    let sim = start();
    let mut settings = settings(&sim, ADMIN, ADMIN_PASSWORD);
    settings.timeouts.request = Duration::from_secs(5);
    let provider = VcenterProvider::new("vcenter.onprem", settings).unwrap();
    // slow-01's task stays `running` for 400 ms: kill the server while it is polled.
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(250));
        sim.stop()
    });
    let started = Instant::now();
    let result = provider
        .apply(
            &ProviderAction::VmRemoveSnapshots {
                vm: "slow-01".into(),
            },
            &NoProgress,
        )
        .await;
    let _ = killer.join();
    let err = result.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    assert!(matches!(err, ProviderError::Transport(_)), "{err:?}");
    assert!(
        err.to_string().contains("cannot reach vCenter")
            || err.to_string().contains("did not answer"),
        "{err}"
    );
}
