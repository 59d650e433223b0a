//! The end-to-end harness: starts both simulators (the ASR vault in process, the
//! vCenter harness as a child) on an example's estate, copies the example into a
//! temporary directory, and runs the real `failback` binary against them with the
//! endpoints passed as `FAILBACK_VAR_*` variables.
//!
//! Everything is bounded: the simulator's time runs fast (`TIME_SCALE`), every
//! command has a deadline, and the simulators stop when the value is dropped.

#![allow(dead_code)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use failback_sim::asr::{AsrSimulator, RunningAsrSimulator, SimOptions};
use failback_sim::estate::Estate;
use failback_sim::vcsim::Vcsim;

/// Simulated seconds per real second: an ASR reprotect job of some simulated minutes
/// takes a few real seconds, while heartbeats stay fresh for the length of a test.
pub const TIME_SCALE: f64 = 60.0;

/// The longest one `failback` command may take in a test.
pub const COMMAND_DEADLINE: Duration = Duration::from_secs(120);

/// The simulators, the example's copy and the endpoints.
pub struct SimWorld {
    pub runtime: tokio::runtime::Runtime,
    pub asr: Option<RunningAsrSimulator>,
    pub vcsim: Option<Vcsim>,
    /// The example's copy: the configuration directory of every command.
    pub dir: tempfile::TempDir,
    pub vars: Vec<(String, String)>,
    /// The admin paths that keep every heartbeat fresh (see [`SimWorld::start`]).
    heartbeat_paths: Vec<String>,
    heartbeats: Option<tokio::task::JoinHandle<()>>,
}

/// The workspace root (the parent of the cli crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(".."))
}

impl SimWorld {
    /// Starts the simulators on `examples/<name>/estate.json` (after `edit_estate`)
    /// and copies the example's `*.hcl` files, unchanged.
    pub fn start(example: &str, edit_estate: impl FnOnce(&mut serde_json::Value)) -> SimWorld {
        let source = workspace_root().join("examples").join(example);
        let dir = tempfile::tempdir().expect("a temporary directory");
        let estate_text =
            std::fs::read_to_string(source.join("estate.json")).expect("the example's estate");
        let mut estate_json: serde_json::Value =
            serde_json::from_str(&estate_text).expect("the estate is JSON");
        edit_estate(&mut estate_json);
        let estate_path = dir.path().join("estate.json");
        std::fs::write(
            &estate_path,
            serde_json::to_string_pretty(&estate_json).expect("estate serialises"),
        )
        .expect("write the estate");
        for entry in std::fs::read_dir(&source).expect("the example directory") {
            let path = entry.expect("a directory entry").path();
            if path.extension().is_some_and(|ext| ext == "hcl") {
                let text = std::fs::read_to_string(&path).expect("an hcl file");
                let name = path.file_name().expect("a file name");
                std::fs::write(dir.path().join(name), text).expect("write the hcl copy");
            }
        }

        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let estate = Estate::load(&estate_path).expect("the estate loads");
        let options = SimOptions {
            time_scale: Some(TIME_SCALE),
            // The configuration servers report the harness's address for the vCenter
            // they discovered, as failback-sim does (FB125 holds).
            vcenter_address: Some("127.0.0.1".to_owned()),
            ..SimOptions::default()
        };
        let asr = runtime
            .block_on(AsrSimulator::start(estate, options))
            .expect("the ASR simulator starts");
        let vcsim = Vcsim::start(&estate_path).expect("the vCenter simulator starts");

        let password = estate_json["vcenter"]["users"][0]["password"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let vars = vec![
            ("vcenter_url".to_owned(), vcsim.url.clone()),
            (
                "vcenter_username".to_owned(),
                vcsim.users.first().cloned().unwrap_or_default(),
            ),
            (
                "vcenter_thumbprint".to_owned(),
                vcsim.thumbprint_sha256.clone(),
            ),
            ("vsphere_password".to_owned(), password),
            ("asr_endpoint".to_owned(), asr.endpoint().to_owned()),
            ("asr_token".to_owned(), asr.token().to_owned()),
            ("vault_name".to_owned(), asr.vault.clone()),
        ];
        let mut heartbeat_paths = Vec::new();
        if let Some(servers) = estate_json["vault"]["configuration_servers"].as_array() {
            for server in servers {
                if let Some(fabric) = server["fabric"].as_str() {
                    heartbeat_paths.push(format!("/_sim/fabrics/{fabric}/heartbeat"));
                }
                for (list, kind) in [
                    ("process_servers", "process-servers"),
                    ("master_targets", "master-targets"),
                ] {
                    for item in server[list].as_array().into_iter().flatten() {
                        if let Some(id) = item["id"].as_str() {
                            heartbeat_paths.push(format!("/_sim/{kind}/{id}/heartbeat"));
                        }
                    }
                }
            }
        }
        let mut world = SimWorld {
            runtime,
            asr: Some(asr),
            vcsim: Some(vcsim),
            dir,
            vars,
            heartbeat_paths,
            heartbeats: None,
        };
        world.start_heartbeats();
        world
    }

    /// Simulated time runs [`TIME_SCALE`] times faster than the test, so the
    /// components' heartbeats would look stopped after a few real seconds; a real
    /// estate's components heartbeat all the time. This keeps them fresh (every
    /// second) until [`SimWorld::stop_heartbeats`].
    pub fn start_heartbeats(&mut self) {
        let endpoint = self.asr().endpoint().to_owned();
        let token = self.asr().token().to_owned();
        let paths = self.heartbeat_paths.clone();
        self.heartbeats = Some(self.runtime.spawn(async move {
            let client = reqwest::Client::new();
            loop {
                for path in &paths {
                    let _ = client
                        .post(format!("{endpoint}{path}"))
                        .bearer_auth(&token)
                        .json(&serde_json::json!({"age_s": 0}))
                        .timeout(Duration::from_secs(5))
                        .send()
                        .await;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }));
    }

    /// Stops keeping heartbeats fresh (a test that stops one itself).
    pub fn stop_heartbeats(&mut self) {
        if let Some(task) = self.heartbeats.take() {
            task.abort();
        }
    }

    pub fn asr(&self) -> &RunningAsrSimulator {
        self.asr.as_ref().expect("the ASR simulator runs")
    }

    /// `failback -C DIR ARGS...` with the simulators' variables in the environment,
    /// not yet started.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_failback"));
        command
            .arg("-C")
            .arg(self.dir.path())
            .args(args)
            .env("NO_COLOR", "1")
            .env_remove("FAILBACK_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (name, value) in &self.vars {
            command.env(format!("FAILBACK_VAR_{name}"), value);
        }
        command
    }

    /// Runs `failback ARGS...` to its end, within [`COMMAND_DEADLINE`].
    pub fn run(&self, args: &[&str]) -> Run {
        let child = self.command(args).spawn().expect("failback starts");
        wait_bounded(child, COMMAND_DEADLINE)
    }

    pub fn state_path(&self) -> PathBuf {
        self.dir.path().join("failback.state.json")
    }

    /// The state file, parsed.
    pub fn state(&self) -> serde_json::Value {
        let text = std::fs::read_to_string(self.state_path()).expect("a state file");
        serde_json::from_str(&text).expect("the state file is JSON")
    }

    /// Sends an admin request (`/_sim/...`) to the ASR simulator.
    pub fn admin(&self, method: &str, path: &str, body: serde_json::Value) {
        let url = format!("{}{path}", self.asr().endpoint());
        let token = self.asr().token().to_owned();
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("an HTTP method");
        self.runtime.block_on(async move {
            let response = reqwest::Client::new()
                .request(method, &url)
                .bearer_auth(token)
                .json(&body)
                .timeout(Duration::from_secs(10))
                .send()
                .await
                .expect("the admin request is answered");
            assert!(
                response.status().is_success(),
                "admin {url}: {}",
                response.status()
            );
        });
    }
}

impl Drop for SimWorld {
    fn drop(&mut self) {
        self.stop_heartbeats();
        if let Some(vcsim) = self.vcsim.take() {
            vcsim.stop();
        }
        if let Some(asr) = self.asr.take() {
            self.runtime.block_on(asr.shutdown());
        }
    }
}

/// A finished command.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Everything it printed, for assertion messages.
    pub fn text(&self) -> String {
        format!(
            "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Waits for `child` at most `deadline`, killing it when it overstays. Its output is
/// read on threads, so a full pipe never stalls it.
pub fn wait_bounded(mut child: Child, deadline: Duration) -> Run {
    fn drain(pipe: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<String> {
        std::thread::spawn(move || {
            let mut text = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut text);
            }
            String::from_utf8_lossy(&text).into_owned()
        })
    }
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if start.elapsed() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "failback took longer than {deadline:?}: {}",
                    stderr.join().unwrap_or_default()
                );
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(err) => panic!("waiting for failback: {err}"),
        }
    };
    Run {
        code: status.code(),
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    }
}

/// Changes to the running vCenter simulator, made over its SOAP API as an operator's
/// govc or PowerCLI would (through failback's own vim25 client, which the provider's
/// tests check against the same harness): for tests that change the world behind
/// failback's back after an apply. Each call logs in, makes one change, waits for its
/// vSphere task (at most [`VCENTER_TASK_DEADLINE`]) and logs out.
impl SimWorld {
    /// A client for the running harness, logging in as the estate's first user with
    /// the example's password and trusting the harness's CA.
    pub fn vcenter_client(&self) -> failback_provider_vcenter::VcenterClient {
        use failback_engine::config::Sensitive;
        use failback_provider_vcenter::{Timeouts, TlsOptions, VcenterClient, VcenterSettings};

        let vcsim = self.vcsim.as_ref().expect("the vCenter simulator runs");
        let var = |name: &str| {
            self.vars
                .iter()
                .find(|(var, _)| var == name)
                .map(|(_, value)| value.clone())
                .unwrap_or_default()
        };
        let mut settings = VcenterSettings::new(
            &vcsim.url,
            var("vcenter_username"),
            Sensitive::new(var("vsphere_password")),
        )
        .expect("the harness's URL and user are valid settings");
        settings.tls = TlsOptions {
            ca_file: Some(vcsim.ca_file.clone()),
            ..TlsOptions::default()
        };
        settings.timeouts = Timeouts {
            connect: Duration::from_secs(5),
            request: Duration::from_secs(30),
            task: VCENTER_TASK_DEADLINE,
        };
        VcenterClient::new(settings).expect("a client for the harness")
    }

    /// Takes a snapshot of VM `vm` named `name` (CreateSnapshot_Task, no memory, not
    /// quiesced), as an operator would before patching.
    pub fn vcenter_create_snapshot(&self, vm: &str, name: &str) {
        use failback_provider_vcenter::actions::{find_vm, wait_for_task};
        use failback_provider_vcenter::client::MoRef;
        use failback_provider_vcenter::soap::text_element;

        let client = self.vcenter_client();
        self.runtime.block_on(async {
            let session = client.login().await.expect("log in to the harness");
            let outcome = async {
                let moref = find_vm(&session, vm).await?;
                let mut inner = String::new();
                moref.write(&mut inner, "_this");
                text_element(&mut inner, "name", name);
                text_element(&mut inner, "description", "taken by a failback test");
                inner.push_str("<memory>false</memory><quiesce>false</quiesce>");
                let response = session.call("CreateSnapshot_Task", &inner).await?;
                let task = response
                    .result()
                    .and_then(|result| result.child("returnval"))
                    .and_then(MoRef::from_node)
                    .ok_or_else(|| failback_provider_vcenter::VcenterError::Protocol {
                        method: "CreateSnapshot_Task".into(),
                        detail: "no task reference in the answer".into(),
                    })?;
                wait_for_task(
                    &session,
                    &task,
                    &format!("snapshot {vm}"),
                    VCENTER_TASK_DEADLINE,
                    &failback_engine::provider::NoProgress,
                )
                .await
            }
            .await;
            session.logout().await;
            outcome.unwrap_or_else(|err| panic!("snapshot {name} of VM {vm}: {err}"));
        });
    }

    /// Sets (or resets) advanced configuration parameter `key` of VM `vm` to `value`
    /// (ReconfigVM_Task with `extraConfig`).
    pub fn vcenter_set_extra_config(&self, vm: &str, key: &str, value: &str) {
        let client = self.vcenter_client();
        self.runtime.block_on(async {
            let session = client.login().await.expect("log in to the harness");
            let outcome = failback_provider_vcenter::actions::set_extra_config(
                &session,
                vm,
                key,
                value,
                VCENTER_TASK_DEADLINE,
                &failback_engine::provider::NoProgress,
            )
            .await;
            session.logout().await;
            outcome.unwrap_or_else(|err| panic!("set {key} = {value} on VM {vm}: {err}"));
        });
    }
}

/// The longest a vSphere task started by a test may run in the harness.
pub const VCENTER_TASK_DEADLINE: Duration = Duration::from_secs(30);
