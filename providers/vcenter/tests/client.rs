//! The client against a scripted vim25 endpoint on loopback: the exact call sequence,
//! paging, faults, task outcomes and time limits. (Behaviour against VMware's own
//! simulator is in `vcsim.rs`.)

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use failback_engine::config::model::Sensitive;
use failback_engine::provider::{
    ActionOutcome, Progress, ProgressSink, Provider, ProviderAction, ProviderError,
};
use failback_provider_vcenter::{VcenterError, VcenterProvider, VcenterSettings};
use support::{FakeVcenter, Reply, Seen, default_reply, envelope};

const PASSWORD: &str = "S3cr3t!pw<&>";

fn settings(url: &str) -> VcenterSettings {
    VcenterSettings::new(
        url,
        "administrator@vsphere.local",
        Sensitive::new(PASSWORD.to_string()),
    )
    .unwrap()
}

fn provider(fake: &FakeVcenter) -> VcenterProvider {
    VcenterProvider::new("vcenter.onprem", settings(&fake.url)).unwrap()
}

#[derive(Default)]
struct Recorder(Mutex<Vec<Progress>>);

impl ProgressSink for Recorder {
    fn report(&self, progress: Progress) {
        self.0.lock().unwrap().push(progress);
    }
}

#[tokio::test]
async fn discovery_reads_every_shape_in_a_fixed_number_of_calls() {
    let fake = FakeVcenter::with_defaults().await;
    let provider = provider(&fake);
    let inventory = provider.inventory().await.unwrap();

    assert_eq!(
        fake.methods(),
        [
            "RetrieveServiceContent",
            "Login",
            "CreateContainerView",
            "RetrievePropertiesEx",
            "ContinueRetrievePropertiesEx",
            "DestroyView",
            "QueryAssignedLicenses",
            "HasPrivilegeOnEntities",
            "Logout",
        ]
    );
    assert_eq!(provider.client().round_trips(), 9);

    let requests = fake.requests();
    let login = &requests[1];
    assert!(
        login
            .body
            .contains("<password>S3cr3t!pw&lt;&amp;&gt;</password>"),
        "{}",
        login.body
    );
    for later in &requests[2..] {
        assert_eq!(
            later.cookie.as_deref(),
            Some("vmware_soap_session=\"e51cd63e-ab8c\""),
            "{}",
            later.method
        );
    }
    let discovery = &requests[3].body;
    assert!(discovery.contains("<maxObjects>1000</maxObjects>"));
    assert!(discovery.contains("<selectSet xsi:type=\"TraversalSpec\">"));
    assert!(requests[4].body.contains("<token>page-2-token</token>"));
    assert!(
        requests[7]
            .body
            .contains("<sessionId>e51cd63e-ab8c-4daa-ab3d-08bdbb24d65a</sessionId>")
    );
    assert!(
        requests[7]
            .body
            .contains("<entity type=\"Datastore\">datastore-61</entity>")
    );

    let app = inventory.vm_by_name("app-win-01").unwrap();
    assert_eq!(
        app.snapshots,
        ["pre-failover", "after-patch", "deep", "sibling"]
    );
    assert_eq!(
        app.extra_config.get("disk.EnableUUID").map(String::as_str),
        Some("false")
    );
    assert_eq!(app.scsi_controllers, ["VirtualLsiLogicSASController"]);
    assert_eq!(app.disks[1].capacity_bytes, 200 * 1024 * 1024 * 1024);
    let mt = inventory.vm_by_name("asr-mt-01").unwrap();
    assert_eq!(mt.scsi_controllers, ["ParaVirtualSCSIController"]);
    let pod = inventory.storage_pod("group-p35").unwrap();
    assert_eq!(
        pod.vm_overrides.get("vm-51").map(String::as_str),
        Some("disabled")
    );
    let local = inventory.datastore_by_name("vmfs-local-01").unwrap();
    assert_eq!(local.mounts[1].access_mode, "readOnly");
    assert_eq!(
        inventory
            .host("host-32")
            .unwrap()
            .license_edition
            .as_deref(),
        Some("esx.vsphere.free")
    );

    insta::assert_json_snapshot!("fixture_inventory", inventory);
}

#[tokio::test]
async fn wrong_password_is_an_authentication_error_without_the_password() {
    let fake = FakeVcenter::start(Arc::new(|seen: &Seen, _: &[Seen]| {
        match seen.method.as_str() {
            "Login" => Reply::fault("fault_InvalidLogin.xml"),
            _ => default_reply(seen),
        }
    }))
    .await;
    let provider = provider(&fake);
    let err = provider.discover().await.unwrap_err();
    assert!(matches!(err, ProviderError::Authentication(_)), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("administrator@vsphere.local") && text.contains("Login failure"),
        "{text}"
    );
    assert!(!text.contains(PASSWORD) && !format!("{err:?}").contains(PASSWORD));
    assert!(!format!("{provider:?}").contains(PASSWORD), "{provider:?}");
    assert!(!format!("{:?}", provider.client().settings()).contains(PASSWORD));
}

/// Answers the reads of an action: the VM name listing, the VM's state, the task polls.
fn action_script(
    extra_config: &'static str,
    snapshot: &'static str,
    task_states: &'static [&'static str],
    task_error: &'static str,
) -> support::Script {
    Arc::new(move |seen: &Seen, log: &[Seen]| {
        let body = seen.body.as_str();
        match seen.method.as_str() {
            "RetrievePropertiesEx" if body.contains("<type>Task</type>") => {
                let polls = log
                    .iter()
                    .filter(|s| s.body.contains("<type>Task</type>"))
                    .count();
                let state = task_states[polls.min(task_states.len() - 1)];
                let error = if state == "error" { task_error } else { "" };
                Reply::ok(envelope(&format!(
                    "<RetrievePropertiesExResponse xmlns=\"urn:vim25\"><returnval><objects><obj type=\"Task\">task-57</obj>\
                     <propSet><name>info.state</name><val xmlns:x=\"http://www.w3.org/2001/XMLSchema-instance\" x:type=\"TaskInfoState\">{state}</val></propSet>\
                     <propSet><name>info.progress</name><val xmlns:x=\"http://www.w3.org/2001/XMLSchema-instance\" x:type=\"xsd:int\">40</val></propSet>\
                     {error}</objects></returnval></RetrievePropertiesExResponse>"
                )))
            }
            "RetrievePropertiesEx" if body.contains("<obj type=\"VirtualMachine\">vm-41</obj>") => {
                Reply::ok(envelope(&format!(
                    "<RetrievePropertiesExResponse xmlns=\"urn:vim25\"><returnval><objects><obj type=\"VirtualMachine\">vm-41</obj>{extra_config}{snapshot}</objects></returnval></RetrievePropertiesExResponse>"
                )))
            }
            "RetrievePropertiesEx" => Reply::ok(envelope(
                "<RetrievePropertiesExResponse xmlns=\"urn:vim25\"><returnval>\
                 <objects><obj type=\"VirtualMachine\">vm-41</obj><propSet><name>name</name><val>app-win-01</val></propSet></objects>\
                 <objects><obj type=\"VirtualMachine\">vm-50</obj><propSet><name>name</name><val>asr-mt-01</val></propSet></objects>\
                 </returnval></RetrievePropertiesExResponse>",
            )),
            "ReconfigVM_Task" | "RemoveAllSnapshots_Task" => Reply::ok(envelope(&format!(
                "<{0}Response xmlns=\"urn:vim25\"><returnval type=\"Task\">task-57</returnval></{0}Response>",
                seen.method
            ))),
            _ => default_reply(seen),
        }
    })
}

const ENABLE_UUID_FALSE: &str = "<propSet><name>config.extraConfig</name><val><OptionValue><key>disk.EnableUUID</key><value>FALSE</value></OptionValue></val></propSet>";
const ENABLE_UUID_TRUE: &str = "<propSet><name>config.extraConfig</name><val><OptionValue><key>disk.EnableUUID</key><value>FALSE</value></OptionValue><OptionValue><key>disk.EnableUUID</key><value>true</value></OptionValue></val></propSet>";
const SNAPSHOTS: &str = "<propSet><name>snapshot</name><val><rootSnapshotList><name>a</name></rootSnapshotList></val></propSet>";

fn enable_uuid() -> ProviderAction {
    ProviderAction::VmSetExtraConfig {
        vm: "app-win-01".into(),
        key: "disk.EnableUUID".into(),
        value: "TRUE".into(),
    }
}

#[tokio::test]
async fn set_extra_config_reconfigures_and_waits_for_the_task() {
    let fake = FakeVcenter::start(action_script(
        ENABLE_UUID_FALSE,
        "",
        &["running", "running", "success"],
        "",
    ))
    .await;
    let provider = provider(&fake);
    let progress = Recorder::default();
    let outcome = provider.apply(&enable_uuid(), &progress).await.unwrap();
    assert_eq!(
        outcome,
        ActionOutcome::Applied {
            remote_ids: vec!["task-57".into()]
        }
    );
    let reconfig = fake
        .requests()
        .into_iter()
        .find(|s| s.method == "ReconfigVM_Task")
        .unwrap();
    assert!(
        reconfig
            .body
            .contains("<_this type=\"VirtualMachine\">vm-41</_this>")
    );
    assert!(reconfig.body.contains(
        "<spec><extraConfig><key>disk.EnableUUID</key><value xsi:type=\"xsd:string\">TRUE</value></extraConfig></spec>"
    ));
    let reports = progress.0.lock().unwrap();
    let messages: Vec<_> = reports
        .iter()
        .map(|p| (p.percent, p.message.as_str()))
        .collect();
    assert_eq!(
        messages,
        [
            (None, "set disk.EnableUUID = TRUE on VM app-win-01: started"),
            (
                Some(40),
                "set disk.EnableUUID = TRUE on VM app-win-01: running"
            ),
            (
                Some(100),
                "set disk.EnableUUID = TRUE on VM app-win-01: success"
            ),
        ]
    );
    assert!(
        reports
            .iter()
            .all(|p| p.remote_id.as_deref() == Some("task-57"))
    );
    assert_eq!(fake.methods().last().map(String::as_str), Some("Logout"));
}

#[tokio::test]
async fn set_extra_config_is_idempotent() {
    let fake = FakeVcenter::start(action_script(ENABLE_UUID_TRUE, "", &["success"], "")).await;
    let outcome = provider(&fake)
        .apply(&enable_uuid(), &Recorder::default())
        .await
        .unwrap();
    assert_eq!(outcome, ActionOutcome::AlreadyDone);
    assert!(!fake.methods().iter().any(|m| m == "ReconfigVM_Task"));
}

#[tokio::test]
async fn remove_snapshots_runs_only_when_there_are_snapshots() {
    let action = ProviderAction::VmRemoveSnapshots { vm: "vm-41".into() };
    let fake = FakeVcenter::start(action_script("", SNAPSHOTS, &["success"], "")).await;
    let outcome = provider(&fake)
        .apply(&action, &Recorder::default())
        .await
        .unwrap();
    assert_eq!(
        outcome,
        ActionOutcome::Applied {
            remote_ids: vec!["task-57".into()]
        }
    );
    let remove = fake
        .requests()
        .into_iter()
        .find(|s| s.method == "RemoveAllSnapshots_Task")
        .unwrap();
    assert!(remove.body.contains("<consolidate>true</consolidate>"));

    let fake = FakeVcenter::start(action_script("", "", &["success"], "")).await;
    let outcome = provider(&fake)
        .apply(&action, &Recorder::default())
        .await
        .unwrap();
    assert_eq!(outcome, ActionOutcome::AlreadyDone);
}

#[tokio::test]
async fn a_failed_task_surfaces_vsphere_message() {
    const ERROR: &str = "<propSet><name>info.error</name><val xmlns:x=\"http://www.w3.org/2001/XMLSchema-instance\" x:type=\"LocalizedMethodFault\">\
        <fault x:type=\"FileLocked\"><file>[vmfs-local-01] app-win-01/app-win-01.vmdk</file></fault>\
        <localizedMessage>Unable to access file [vmfs-local-01] app-win-01/app-win-01.vmdk since it is locked</localizedMessage></val></propSet>";
    let fake = FakeVcenter::start(action_script("", SNAPSHOTS, &["running", "error"], ERROR)).await;
    let err = provider(&fake)
        .apply(
            &ProviderAction::VmRemoveSnapshots {
                vm: "app-win-01".into(),
            },
            &Recorder::default(),
        )
        .await
        .unwrap_err();
    let ProviderError::Remote { code, message, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(code, "FileLocked");
    assert!(
        message.contains("since it is locked") && message.contains("task-57"),
        "{message}"
    );
    assert_eq!(
        fake.methods().last().map(String::as_str),
        Some("Logout"),
        "logs out after a failure"
    );
}

#[tokio::test]
async fn a_disabled_method_is_a_typed_fault() {
    let base = action_script("", SNAPSHOTS, &["success"], "");
    let fake = FakeVcenter::start(Arc::new(move |seen: &Seen, log: &[Seen]| {
        if seen.method == "RemoveAllSnapshots_Task" {
            Reply::fault("fault_MethodDisabled.xml")
        } else {
            base(seen, log)
        }
    }))
    .await;
    let err = provider(&fake)
        .apply_action(
            &ProviderAction::VmRemoveSnapshots {
                vm: "app-win-01".into(),
            },
            &Recorder::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.fault_name(), Some("MethodDisabled"));
    assert!(
        err.to_string()
            .contains("method is disabled: RemoveAllSnapshots_Task"),
        "{err}"
    );
}

#[tokio::test]
async fn unknown_vm_is_not_found() {
    let fake = FakeVcenter::start(action_script("", "", &["success"], "")).await;
    let err = provider(&fake)
        .apply_action(
            &ProviderAction::VmRemoveSnapshots { vm: "nope".into() },
            &Recorder::default(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, VcenterError::NotFound { .. }), "{err}");
}

#[tokio::test]
async fn other_actions_are_unsupported() {
    let fake = FakeVcenter::with_defaults().await;
    let action = ProviderAction::WaitForAgent {
        protected_item_id: "x".into(),
        timeout_s: 1,
    };
    let err = provider(&fake)
        .apply(&action, &Recorder::default())
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::Unsupported { .. }), "{err:?}");
    assert!(
        fake.methods().is_empty(),
        "no session for an unsupported action"
    );
}

#[tokio::test]
async fn a_hung_server_is_a_timeout_not_a_hang() {
    let fake = FakeVcenter::start(Arc::new(|seen: &Seen, _: &[Seen]| {
        match seen.method.as_str() {
            "RetrievePropertiesEx" => Reply::hang(),
            _ => default_reply(seen),
        }
    }))
    .await;
    let mut settings = settings(&fake.url);
    settings.timeouts.request = Duration::from_millis(700);
    let provider = VcenterProvider::new("vcenter.onprem", settings).unwrap();
    let started = Instant::now();
    let err = provider.discover().await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(matches!(err, ProviderError::Transport(_)), "{err:?}");
    assert!(
        err.to_string()
            .contains("did not answer RetrievePropertiesEx"),
        "{err}"
    );
}

#[tokio::test]
async fn nothing_listening_is_a_transport_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let provider =
        VcenterProvider::new("vcenter.onprem", settings(&format!("http://{addr}/sdk"))).unwrap();
    let err = provider.discover().await.unwrap_err();
    assert!(matches!(err, ProviderError::Transport(_)), "{err:?}");
    assert!(
        err.to_string()
            .contains(&format!("cannot reach vCenter at {addr}")),
        "{err}"
    );
}

#[tokio::test]
async fn licences_are_asked_per_host_when_the_bulk_answer_names_no_host() {
    // vcsim 0.24.2 without the harness override: one anonymous evaluation entry.
    let fake = FakeVcenter::start(Arc::new(|seen: &Seen, _: &[Seen]| {
        if seen.method != "QueryAssignedLicenses" {
            return default_reply(seen);
        }
        let entity = seen
            .body
            .split("<entityId>")
            .nth(1)
            .and_then(|rest| rest.split('<').next())
            .unwrap_or("");
        Reply::ok(envelope(&format!(
            "<QueryAssignedLicensesResponse xmlns=\"urn:vim25\"><returnval><entityId>{entity}</entityId>\
             <assignedLicense><licenseKey>00000-00000-00000-00000-00000</licenseKey><editionKey>eval</editionKey>\
             <name>Evaluation Mode</name><total>0</total></assignedLicense></returnval></QueryAssignedLicensesResponse>"
        )))
    }))
    .await;
    let inventory = provider(&fake).inventory().await.unwrap();
    let queries = fake
        .methods()
        .iter()
        .filter(|m| *m == "QueryAssignedLicenses")
        .count();
    assert_eq!(queries, 1 + inventory.hosts.len());
    assert!(
        inventory
            .hosts
            .iter()
            .all(|h| h.license_edition.as_deref() == Some("eval"))
    );
}

#[tokio::test]
async fn a_server_dying_mid_answer_is_a_transport_error() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        if let Ok((mut stream, _)) = listener.accept() {
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: text/xml\r\ncontent-length: 5000\r\n\r\n<soapenv:Envelope");
            // The process dies: the connection closes with most of the body missing.
        }
    });
    let provider =
        VcenterProvider::new("vcenter.onprem", settings(&format!("http://{addr}/sdk"))).unwrap();
    let started = Instant::now();
    let err = provider.discover().await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(matches!(err, ProviderError::Transport(_)), "{err:?}");
    assert!(
        err.to_string().contains("during RetrieveServiceContent"),
        "{err}"
    );
}

#[tokio::test]
async fn a_vm_gone_before_the_privilege_query_does_not_lose_the_other_privileges() {
    // app-win-01 has snapshots, so discovery asks about it; it was deleted after the
    // inventory was read, and vCenter fails the whole query for it.
    let fake = FakeVcenter::start(Arc::new(|seen: &Seen, _: &[Seen]| {
        if seen.method == "HasPrivilegeOnEntities" && seen.body.contains("type=\"VirtualMachine\"")
        {
            return Reply {
                status: 500,
                ..Reply::ok(envelope(
                    "<soapenv:Fault><faultcode>ServerFaultCode</faultcode>\
                     <faultstring>The object 'vim.VirtualMachine:vm-42' has already been deleted or has not been completely created</faultstring>\
                     <detail><ManagedObjectNotFoundFault xmlns=\"urn:vim25\" xsi:type=\"ManagedObjectNotFound\">\
                     <obj type=\"VirtualMachine\">vm-42</obj></ManagedObjectNotFoundFault></detail></soapenv:Fault>",
                ))
            };
        }
        default_reply(seen)
    }))
    .await;
    let inventory = provider(&fake).inventory().await.unwrap();
    let asked = fake
        .methods()
        .iter()
        .filter(|m| *m == "HasPrivilegeOnEntities")
        .count();
    assert_eq!(asked, 2, "asked again without the VMs");
    assert!(
        inventory.privileges.contains_key("group-d1"),
        "{:?}",
        inventory.privileges.keys().collect::<Vec<_>>()
    );
}
