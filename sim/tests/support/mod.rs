//! Setup shared by the simulators' tests: estates from `testdata/estates/`, starting
//! the ASR simulator and calling it the way an ARM client does, and waiting (always
//! within a bound) for a spawned simulator process's ready line and exit.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ExitStatus};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use failback_sim::asr::{AsrSimulator, RunningAsrSimulator, SimOptions};
use failback_sim::estate::Estate;
use serde_json::Value;

pub fn estate_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/estates")
        .join(name)
}

pub fn estate(name: &str) -> Estate {
    match Estate::load(&estate_path(name)) {
        Ok(estate) => estate,
        Err(err) => panic!("fixture {name}: {err}"),
    }
}

pub async fn start(estate: Estate, options: SimOptions) -> RunningAsrSimulator {
    match AsrSimulator::start(estate, options).await {
        Ok(sim) => sim,
        Err(err) => panic!("simulator did not start: {err}"),
    }
}

pub async fn basics() -> RunningAsrSimulator {
    start(estate("vault-reprotect-basics.json"), SimOptions::default()).await
}

thread_local! {
    static CLIENT: reqwest::Client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        // No idle connections: a connection never outlives the test's runtime, and
        // building a client (TLS roots) is the slow part, so one is shared per thread.
        .pool_max_idle_per_host(0)
        .build()
        .unwrap_or_else(|err| panic!("client: {err}"));
}

pub fn client() -> reqwest::Client {
    CLIENT.with(reqwest::Client::clone)
}

/// A reply: status, headers, JSON body (Null when empty).
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    pub fn error_code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or_default()
    }

    pub fn detail_code(&self) -> &str {
        self.body["error"]["details"][0]["code"]
            .as_str()
            .unwrap_or_default()
    }
}

async fn reply(response: reqwest::Response) -> Reply {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response
        .bytes()
        .await
        .unwrap_or_else(|err| panic!("body: {err}"));
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or_else(|err| panic!("not JSON ({err}): {bytes:?}"))
    };
    Reply {
        status,
        headers,
        body,
    }
}

/// GET an absolute URL with the simulator's token.
pub async fn get_url(sim: &RunningAsrSimulator, url: &str) -> Reply {
    let response = client()
        .get(url)
        .bearer_auth(sim.token())
        .send()
        .await
        .unwrap_or_else(|err| panic!("GET {url}: {err}"));
    reply(response).await
}

/// GET a vault sub-path (`replicationFabrics/cs01`).
pub async fn get(sim: &RunningAsrSimulator, sub_path: &str) -> Reply {
    get_url(sim, &sim.vault_url(sub_path)).await
}

pub async fn post(sim: &RunningAsrSimulator, sub_path: &str, body: &Value) -> Reply {
    let url = sim.vault_url(sub_path);
    let response = client()
        .post(&url)
        .bearer_auth(sim.token())
        .json(body)
        .send()
        .await
        .unwrap_or_else(|err| panic!("POST {url}: {err}"));
    reply(response).await
}

/// An admin call (`/_sim/...`).
pub async fn admin(
    sim: &RunningAsrSimulator,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Reply {
    let url = format!("{}{path}", sim.endpoint());
    let mut request = client().request(method, &url).bearer_auth(sim.token());
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request
        .send()
        .await
        .unwrap_or_else(|err| panic!("admin {url}: {err}"));
    reply(response).await
}

/// Every element of a paged list, following `nextLink` verbatim; also the page count.
pub async fn list_all(sim: &RunningAsrSimulator, sub_path: &str) -> (Vec<Value>, usize) {
    let mut url = sim.vault_url(sub_path);
    let mut all = Vec::new();
    let mut pages = 0;
    loop {
        let page = get_url(sim, &url).await;
        assert_eq!(page.status, 200, "{url}: {:?}", page.body);
        pages += 1;
        all.extend(page.body["value"].as_array().cloned().unwrap_or_default());
        match page.body["nextLink"].as_str() {
            Some(next) => url = next.to_owned(),
            None => break,
        }
        assert!(pages < 1000, "nextLink loop");
    }
    (all, pages)
}

/// The sub-path of an item (`replicationFabrics/{f}/replicationProtectionContainers/{c}/replicationProtectedItems/{i}`).
pub async fn item_path(sim: &RunningAsrSimulator, item: &str) -> String {
    let (items, _) = list_all(sim, "replicationProtectedItems").await;
    let found = items
        .iter()
        .find(|i| i["name"] == item)
        .unwrap_or_else(|| panic!("no item {item}"));
    let id = found["id"].as_str().unwrap_or_default();
    let vault = sim.vault_id();
    id.strip_prefix(&vault)
        .unwrap_or_else(|| panic!("{id} not under {vault}"))
        .trim_start_matches('/')
        .to_owned()
}

/// The reprotect input PowerShell builds, for the basics estate's cs01.
pub fn reprotect_input(sim: &RunningAsrSimulator, master_target: &str, retention: &str) -> Value {
    serde_json::json!({
        "properties": {
            "failoverDirection": "RecoveryToPrimary",
            "providerSpecificDetails": {
                "instanceType": "InMage",
                "masterTargetId": master_target,
                "processServerId": "ps-azure-01-id",
                "retentionDrive": retention,
                "runAsAccountId": "1",
                "datastoreName": "vmfs-gold-01",
                "profileId": format!("{}/replicationPolicies/failback-policy", sim.vault_id()),
                "diskExclusionInput": {"volumeOptions": []},
            }
        }
    })
}

pub fn linux_input(sim: &RunningAsrSimulator) -> Value {
    reprotect_input(sim, "mt-lnx-01-id", "/mnt/retention")
}

/// Polls a job until it leaves InProgress (bounded).
pub async fn wait_job(sim: &RunningAsrSimulator, job_url: &str) -> Reply {
    for _ in 0..200 {
        let job = get_url(sim, job_url).await;
        if job.body["properties"]["state"] != "InProgress" {
            return job;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("job {job_url} did not finish");
}

/// The first line a spawned simulator prints on stdout, as JSON, within `within`
/// (the process is killed when it does not come).
pub fn ready_line(child: &mut Child, within: Duration) -> Value {
    let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = match rx.recv_timeout(within) {
        Ok(line) => line,
        Err(_) => {
            let _ = child.kill();
            panic!("no ready line within {within:?}");
        }
    };
    serde_json::from_str(&line).unwrap_or_else(|err| panic!("not JSON ({err}): {line:?}"))
}

/// Waits for a spawned process to exit, within `within` (killed otherwise).
pub fn wait_exit(child: &mut Child, within: Duration) -> ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return status,
            Ok(None) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Ok(None) => {
                let _ = child.kill();
                panic!("the process did not exit within {within:?}");
            }
            Err(err) => panic!("waiting for the process: {err}"),
        }
    }
}
