//! The `failback-sim` binary: one JSON line with what a client needs, a working
//! endpoint, clean stop on stdin closed or SIGTERM, and clear estate errors.

mod support;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use support::estate_path;

fn spawn(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_failback-sim"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| panic!("spawn failback-sim: {err}"))
}

/// The first stdout line. Generous: the first start may build the Go harness.
fn first_line(child: &mut Child) -> Value {
    support::ready_line(child, Duration::from_secs(300))
}

fn wait_exit(child: &mut Child) -> std::process::ExitStatus {
    support::wait_exit(child, Duration::from_secs(10))
}

fn basics() -> String {
    estate_path("vault-reprotect-basics.json")
        .display()
        .to_string()
}

#[tokio::test]
async fn prints_one_json_line_serves_and_stops_when_stdin_closes() {
    let mut child = spawn(&["--estate", &basics(), "--no-vcenter", "--page-size", "2"]);
    let line = first_line(&mut child);
    assert!(line["vcenter"].is_null());
    let asr = &line["asr"];
    assert_eq!(
        asr["subscription_id"],
        "00000000-0000-0000-0000-000000000001"
    );
    assert_eq!(asr["resource_group"], "rg-dr");
    assert_eq!(asr["vault"], "contoso-vault");
    let endpoint = asr["endpoint"].as_str().unwrap_or_default().to_owned();
    assert!(endpoint.starts_with("http://127.0.0.1:"), "{endpoint}");
    let token = asr["token"].as_str().unwrap_or_default().to_owned();

    let url = format!(
        "{endpoint}/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-dr/providers/Microsoft.RecoveryServices/vaults/contoso-vault/replicationProtectedItems?api-version=2026-05-01"
    );
    let page: Value = support::client()
        .get(&url)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(page["value"].as_array().map(Vec::len), Some(2));
    assert!(page["nextLink"].is_string());

    drop(child.stdin.take());
    let status = wait_exit(&mut child);
    assert!(status.success(), "{status:?}");
    let refused = support::client().get(&url).bearer_auth(&token).send().await;
    assert!(refused.is_err(), "still serving after stop");
}

#[test]
fn stops_cleanly_on_sigterm() {
    let mut child = spawn(&["--estate", &basics(), "--no-vcenter"]);
    let _ = first_line(&mut child);
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap_or_else(|e| panic!("kill: {e}"));
    assert!(killed.success());
    let status = wait_exit(&mut child);
    assert!(status.success(), "{status:?}");
}

#[test]
fn estate_errors_name_file_path_and_expectation() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let file = dir.path().join("broken.json");
    let mut estate: Value = serde_json::from_str(
        &std::fs::read_to_string(estate_path("vault-reprotect-basics.json")).unwrap_or_default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    estate["vault"]["protected_items"][1]["os_type"] = Value::from("BeOS");
    std::fs::write(&file, estate.to_string()).unwrap_or_else(|e| panic!("{e}"));
    let output = Command::new(env!("CARGO_BIN_EXE_failback-sim"))
        .args(["--estate", &file.display().to_string(), "--no-vcenter"])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("broken.json"), "{stderr}");
    assert!(
        stderr.contains("vault.protected_items[1].os_type"),
        "{stderr}"
    );
    assert!(
        stderr.contains("unknown variant `BeOS`, expected `Windows` or `Linux`"),
        "{stderr}"
    );
}

#[test]
fn inconsistent_estates_are_refused_with_the_path() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let file = dir.path().join("dangling.json");
    let mut estate: Value = serde_json::from_str(
        &std::fs::read_to_string(estate_path("vault-reprotect-basics.json")).unwrap_or_default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    estate["vault"]["recovery_plans"][0]["members"][1] = Value::from("ghost-item");
    std::fs::write(&file, estate.to_string()).unwrap_or_else(|e| panic!("{e}"));
    let output = Command::new(env!("CARGO_BIN_EXE_failback-sim"))
        .args(["--estate", &file.display().to_string(), "--no-vcenter"])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("dangling.json: at `vault.recovery_plans[0].members[1]`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("expected the name of a protected item, got `ghost-item`"),
        "{stderr}"
    );
}

#[test]
fn refuses_a_non_loopback_listen_address() {
    let output = Command::new(env!("CARGO_BIN_EXE_failback-sim"))
        .args([
            "--estate",
            &basics(),
            "--no-vcenter",
            "--listen",
            "0.0.0.0:0",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("loopback only"));
}

/// Both halves: the vCenter harness runs as a child and stops with the simulator.
#[test]
fn starts_and_stops_the_vcenter_harness() {
    let mut child = spawn(&["--estate", &basics()]);
    let line = first_line(&mut child);
    let vcenter = &line["vcenter"];
    assert_eq!(vcenter["datacenter"], "DC-OnPrem");
    assert_eq!(vcenter["users"], serde_json::json!(["asr@vsphere.local"]));
    let url = vcenter["url"].as_str().unwrap_or_default().to_owned();
    assert!(
        url.starts_with("https://127.0.0.1:") && url.ends_with("/sdk"),
        "{url}"
    );
    assert!(std::path::Path::new(vcenter["ca_file"].as_str().unwrap_or_default()).exists());
    for key in ["thumbprint_sha256", "thumbprint_sha1"] {
        assert!(
            vcenter[key].as_str().is_some_and(|t| t.contains(':')),
            "{key}"
        );
    }
    assert!(line["asr"]["endpoint"].is_string());
    let port = url
        .trim_start_matches("https://127.0.0.1:")
        .trim_end_matches("/sdk")
        .parse::<u16>()
        .unwrap_or_else(|e| panic!("{url}: {e}"));
    let address = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    assert!(std::net::TcpStream::connect_timeout(&address, Duration::from_secs(2)).is_ok());

    drop(child.stdin.take());
    let status = wait_exit(&mut child);
    assert!(status.success(), "{status:?}");
    // The harness went with it: its port no longer answers (allow it a moment to exit).
    let mut closed = false;
    for _ in 0..40 {
        if std::net::TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_err() {
            closed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(closed, "the vCenter harness still listens on {address}");
}
