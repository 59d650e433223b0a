//! Launcher for the vCenter simulator harness (`sim/vcsim`, govmomi's vcsim patched to
//! behave like a real vCenter), for the vcenter provider's tests, the ASR simulator binary
//! and the benchmarks.
//!
//! [`build`] compiles the Go harness once per process (the script skips the work when the
//! binaries are current); [`Vcsim::start`] runs one harness per estate — vcsim keeps its
//! inventory in process-global state, so each test gets its own process — and reads the
//! one JSON line it prints when ready. Dropping a [`Vcsim`] stops and reaps the process.
//!
//! ```no_run
//! # fn demo() -> Result<(), failback_sim::vcsim::VcsimError> {
//! use failback_sim::vcsim::Vcsim;
//! let sim = Vcsim::start(std::path::Path::new("testdata/estates/vcenter-basic.json"))?;
//! println!("{} (CA {}, SHA-256 {})", sim.url, sim.ca_file.display(), sim.thumbprint_sha256);
//! # Ok(()) }
//! ```

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::estate::Estate;

/// How long [`Vcsim::start`] waits for the ready line unless told otherwise. Generous: a
/// 5,000-VM estate on a loaded 2-core CI machine takes a while to lay out.
pub const DEFAULT_STARTUP_TIMEOUT: Duration = Duration::from_secs(180);

/// Environment variable naming a prebuilt `failback-vcsim` binary, which skips the build
/// (its anchor is looked for beside it).
pub const BINARY_ENV: &str = "FAILBACK_VCSIM_BIN";

/// The most stderr kept per harness for error messages.
const STDERR_KEEP: usize = 64 * 1024;

/// Why the harness could not be built or started.
#[derive(Debug, thiserror::Error)]
pub enum VcsimError {
    #[error("cannot run {script}: {source}")]
    BuildSpawn {
        script: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "building the vCenter simulator failed ({status}); it needs `golang-go` and \
         `golang-github-vmware-govmomi-dev` (apt-get install them):\n{output}"
    )]
    Build { status: String, output: String },
    #[error("cannot start {binary}: {source}")]
    Spawn {
        binary: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write the estate for the vCenter simulator: {0}")]
    WriteEstate(std::io::Error),
    #[error("the vCenter simulator exited before it was ready ({status}):\n{stderr}")]
    Exited { status: String, stderr: String },
    #[error("the vCenter simulator was not ready after {after:?}:\n{stderr}")]
    Timeout { after: Duration, stderr: String },
    #[error("the vCenter simulator printed an unreadable ready line `{line}`: {message}")]
    ReadyLine { line: String, message: String },
}

/// The ready line the harness prints (see docs/vcsim.md).
#[derive(Debug, Deserialize)]
struct ReadyLine {
    url: String,
    ca_file: Option<PathBuf>,
    thumbprint_sha256: Option<String>,
    thumbprint_sha1: Option<String>,
    datacenter: String,
    users: Vec<String>,
    pid: u32,
}

/// Options for [`Vcsim::start_with`].
#[derive(Debug, Clone)]
pub struct VcsimOptions {
    /// How long to wait for the harness to print its ready line.
    pub startup_timeout: Duration,
    /// Log every SOAP request and response to the captured stderr.
    pub trace: bool,
}

impl Default for VcsimOptions {
    fn default() -> Self {
        VcsimOptions {
            startup_timeout: DEFAULT_STARTUP_TIMEOUT,
            trace: false,
        }
    }
}

/// A running harness serving one estate's vCenter over HTTPS on 127.0.0.1.
pub struct Vcsim {
    /// The SDK endpoint, `https://127.0.0.1:PORT/sdk`.
    pub url: String,
    /// The PEM file of the CA that signed the served certificate.
    pub ca_file: PathBuf,
    /// SHA-256 of the served leaf certificate's DER, `AA:BB:...` (uppercase).
    pub thumbprint_sha256: String,
    /// SHA-1 of the served leaf certificate's DER, `AA:BB:...` (uppercase).
    pub thumbprint_sha1: String,
    /// The estate's datacenter name.
    pub datacenter: String,
    /// Users who may log in (the estate's, or `administrator@vsphere.local` when it has none).
    pub users: Vec<String>,
    /// The harness's process id.
    pub pid: u32,
    /// From spawning the process to its ready line.
    pub startup: Duration,
    child: Child,
    stdin: Option<ChildStdin>,
    stderr: Arc<Mutex<String>>,
    // Holds the estate file (for start_estate), the certificates and the harness's work
    // dir; removed on drop, after the process is gone.
    _dir: tempfile::TempDir,
}

impl std::fmt::Debug for Vcsim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vcsim")
            .field("url", &self.url)
            .field("ca_file", &self.ca_file)
            .field("thumbprint_sha256", &self.thumbprint_sha256)
            .field("datacenter", &self.datacenter)
            .field("users", &self.users)
            .field("pid", &self.pid)
            .finish_non_exhaustive()
    }
}

fn build_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("vcsim")
        .join("build.sh")
}

/// Builds the harness (once per process) and returns the path of `failback-vcsim`.
///
/// Honours [`BINARY_ENV`] for a prebuilt binary. The build itself is
/// `sim/vcsim/build.sh`, which skips work when the binaries are newer than their sources
/// and serialises concurrent builds from parallel test processes.
pub fn build() -> Result<PathBuf, VcsimError> {
    static BUILT: OnceLock<Result<PathBuf, (String, String)>> = OnceLock::new();
    if let Some(bin) = std::env::var_os(BINARY_ENV) {
        return Ok(PathBuf::from(bin));
    }
    let result = BUILT.get_or_init(|| {
        let script = build_script();
        let output = Command::new("bash")
            .arg(&script)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| ("spawn".to_owned(), format!("{}: {e}", script.display())))?;
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        if !output.status.success() {
            return Err((output.status.to_string(), stderr));
        }
        let stdout = String::from_utf8_lossy(&output.stdout);
        match stdout.lines().last() {
            Some(line) if !line.trim().is_empty() => Ok(PathBuf::from(line.trim())),
            _ => Err((
                "no binary path printed".to_owned(),
                format!("{stdout}\n{stderr}"),
            )),
        }
    });
    match result {
        Ok(path) => Ok(path.clone()),
        Err((status, output)) if status == "spawn" => Err(VcsimError::BuildSpawn {
            script: build_script(),
            source: std::io::Error::other(output.clone()),
        }),
        Err((status, output)) => Err(VcsimError::Build {
            status: status.clone(),
            output: output.clone(),
        }),
    }
}

/// Builds the harness and returns the path of the govmomi anchor program
/// (`failback-vcsim-anchor`, see `sim/vcsim/anchor`), which sits beside it.
pub fn anchor() -> Result<PathBuf, VcsimError> {
    let harness = build()?;
    Ok(harness.with_file_name("failback-vcsim-anchor"))
}

impl Vcsim {
    /// Starts a harness serving the `vcenter` half of the estate file at `estate_path`.
    pub fn start(estate_path: &Path) -> Result<Vcsim, VcsimError> {
        Vcsim::start_with(estate_path, &VcsimOptions::default())
    }

    /// Starts a harness serving `estate` (written to a temporary file first).
    pub fn start_estate(estate: &Estate) -> Result<Vcsim, VcsimError> {
        Vcsim::start_estate_with(estate, &VcsimOptions::default())
    }

    /// [`Vcsim::start_estate`] with options.
    pub fn start_estate_with(estate: &Estate, options: &VcsimOptions) -> Result<Vcsim, VcsimError> {
        let dir = tempdir()?;
        let path = dir.path().join("estate.json");
        let mut file = std::fs::File::create(&path).map_err(VcsimError::WriteEstate)?;
        file.write_all(estate.to_json_pretty().as_bytes())
            .map_err(VcsimError::WriteEstate)?;
        drop(file);
        Vcsim::spawn(&path, dir, options)
    }

    /// [`Vcsim::start`] with options.
    pub fn start_with(estate_path: &Path, options: &VcsimOptions) -> Result<Vcsim, VcsimError> {
        Vcsim::spawn(estate_path, tempdir()?, options)
    }

    fn spawn(
        estate_path: &Path,
        dir: tempfile::TempDir,
        options: &VcsimOptions,
    ) -> Result<Vcsim, VcsimError> {
        let binary = build()?;
        let started = Instant::now();
        let mut command = Command::new(&binary);
        command
            .arg("--estate")
            .arg(estate_path)
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--cert-dir")
            .arg(dir.path().join("certs"))
            .arg("--work-dir")
            .arg(dir.path().join("work"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if options.trace {
            command.arg("--trace");
        }
        let mut child = command.spawn().map_err(|source| VcsimError::Spawn {
            binary: binary.clone(),
            source,
        })?;
        let stdin = child.stdin.take();
        let stderr = Arc::new(Mutex::new(String::new()));
        if let Some(pipe) = child.stderr.take() {
            let sink = Arc::clone(&stderr);
            std::thread::spawn(move || collect_stderr(pipe, &sink));
        }
        let (tx, rx) = mpsc::channel();
        if let Some(pipe) = child.stdout.take() {
            std::thread::spawn(move || {
                let mut reader = BufReader::new(pipe);
                let mut line = String::new();
                let first = reader.read_line(&mut line).map(|_| line);
                let _ = tx.send(first);
                // Keep draining so the harness never blocks on a full stdout pipe.
                let _ = std::io::copy(&mut reader, &mut std::io::sink());
            });
        }

        let mut sim = PendingChild {
            child: Some(child),
            stdin,
        };
        let line = loop {
            match rx.recv_timeout(Duration::from_millis(50)) {
                Ok(Ok(line)) if !line.trim().is_empty() => break line,
                Ok(_) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                    // stdout closed without a line: the process is exiting.
                    let status = sim.wait_exit(Duration::from_secs(5));
                    return Err(VcsimError::Exited {
                        status: describe(status),
                        stderr: stderr_text(&stderr),
                    });
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Some(status) = sim.try_exit() {
                        return Err(VcsimError::Exited {
                            status: describe(Some(status)),
                            stderr: stderr_text(&stderr),
                        });
                    }
                    if started.elapsed() > options.startup_timeout {
                        sim.kill();
                        return Err(VcsimError::Timeout {
                            after: options.startup_timeout,
                            stderr: stderr_text(&stderr),
                        });
                    }
                }
            }
        };
        let ready: ReadyLine =
            serde_json::from_str(line.trim()).map_err(|e| VcsimError::ReadyLine {
                line: line.trim().to_owned(),
                message: e.to_string(),
            })?;
        let (Some(ca_file), Some(thumbprint_sha256), Some(thumbprint_sha1)) = (
            ready.ca_file,
            ready.thumbprint_sha256,
            ready.thumbprint_sha1,
        ) else {
            return Err(VcsimError::ReadyLine {
                line: line.trim().to_owned(),
                message: "TLS fields missing".to_owned(),
            });
        };
        let Some((child, stdin)) = sim.into_parts() else {
            return Err(VcsimError::Exited {
                status: "lost track of the process".to_owned(),
                stderr: stderr_text(&stderr),
            });
        };
        Ok(Vcsim {
            url: ready.url,
            ca_file,
            thumbprint_sha256,
            thumbprint_sha1,
            datacenter: ready.datacenter,
            users: ready.users,
            pid: ready.pid,
            startup: started.elapsed(),
            child,
            stdin,
            stderr,
            _dir: dir,
        })
    }

    /// What the harness has written to stderr so far (the last 64 KiB).
    pub fn stderr(&self) -> String {
        stderr_text(&self.stderr)
    }

    /// `host:port` of the SDK endpoint, e.g. `127.0.0.1:40625`.
    pub fn authority(&self) -> &str {
        authority_of(&self.url)
    }

    /// Stops the harness now (what dropping it does) and reports how it ended.
    pub fn stop(mut self) -> Option<ExitStatus> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Option<ExitStatus> {
        // Closing stdin asks the harness to exit cleanly (it removes its temp files);
        // kill it if it does not within a few seconds.
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return Some(status),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                _ => {
                    let _ = self.child.kill();
                    return self.child.wait().ok();
                }
            }
        }
    }
}

impl Drop for Vcsim {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// A child that is killed and reaped if startup fails part-way.
struct PendingChild {
    child: Option<Child>,
    stdin: Option<ChildStdin>,
}

impl PendingChild {
    fn try_exit(&mut self) -> Option<ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.try_exit() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.kill();
        None
    }

    fn kill(&mut self) {
        drop(self.stdin.take());
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Hands the child over to a started [`Vcsim`] (which then owns stopping it).
    fn into_parts(mut self) -> Option<(Child, Option<ChildStdin>)> {
        let stdin = self.stdin.take();
        self.child.take().map(|child| (child, stdin))
    }
}

impl Drop for PendingChild {
    fn drop(&mut self) {
        self.kill();
    }
}

fn authority_of(url: &str) -> &str {
    let rest = url.split_once("://").map(|(_, rest)| rest).unwrap_or(url);
    rest.split('/').next().unwrap_or(rest)
}

/// The directory of one harness run (estate copy, certificates, the simulated datastores'
/// files): on tmpfs when there is one, since vcsim writes files for every VM. It is ours to
/// remove, so nothing is left behind even when the harness had to be killed.
fn tempdir() -> Result<tempfile::TempDir, VcsimError> {
    let mut builder = tempfile::Builder::new();
    builder.prefix("failback-vcsim-run-");
    let shm = Path::new("/dev/shm");
    if std::env::var_os("TMPDIR").is_none()
        && shm.is_dir()
        && let Ok(dir) = builder.tempdir_in(shm)
    {
        return Ok(dir);
    }
    builder.tempdir().map_err(VcsimError::WriteEstate)
}

fn describe(status: Option<ExitStatus>) -> String {
    match status {
        Some(status) => status.to_string(),
        None => "still running, killed".to_owned(),
    }
}

fn collect_stderr(pipe: impl Read, sink: &Mutex<String>) {
    let reader = BufReader::new(pipe);
    for line in reader.lines() {
        let Ok(line) = line else { break };
        let Ok(mut text) = sink.lock() else { break };
        text.push_str(&line);
        text.push('\n');
        if text.len() > STDERR_KEEP {
            let cut = text.len() - STDERR_KEEP / 2;
            let cut = (cut..text.len())
                .find(|i| text.is_char_boundary(*i))
                .unwrap_or(text.len());
            text.replace_range(..cut, "[...]\n");
        }
    }
}

fn stderr_text(sink: &Mutex<String>) -> String {
    match sink.lock() {
        Ok(text) => text.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    }
}

/// A generated estate with `vm_count` VMs for scale tests and benchmarks, the same for the
/// same count: one host per 50 VMs (2 to 64, in clusters of 16), one VMFS datastore per
/// four hosts mounted on every host, an SDRS-enabled storage pod with two more, and VMs
/// with two disks, a mix of SCSI controllers, power states, snapshots and tools states.
/// Its only user is `administrator@vsphere.local` / `VMware1!` with every privilege the
/// rules check. The vault half is empty.
pub fn scale_estate(vm_count: usize) -> Estate {
    use crate::estate::{
        AccessMode, Datastore, DatastoreKind, Disk, Host, Mount, PowerState, ScsiKind,
        SdrsBehavior, StoragePod, ToolsRunningStatus, User, VaultEstate, VcenterEstate, Vm,
    };
    use std::collections::BTreeMap;

    let host_count = vm_count.div_ceil(50).clamp(2, 64);
    let hosts: Vec<Host> = (0..host_count)
        .map(|i| Host {
            name: format!("esx{i:03}.scale.local"),
            cluster: Some(format!("Cluster-{:02}", i / 16)),
            version: "7.0.3".to_owned(),
            license_edition: "esx.enterprisePlus.cpuPackage".to_owned(),
            connection_state: Default::default(),
        })
        .collect();
    let mounts = |read_only_last: bool| -> Vec<Mount> {
        hosts
            .iter()
            .enumerate()
            .map(|(i, h)| Mount {
                host: h.name.clone(),
                access_mode: if read_only_last && i + 1 == hosts.len() {
                    AccessMode::ReadOnly
                } else {
                    AccessMode::ReadWrite
                },
            })
            .collect()
    };
    let plain = host_count / 4 + 1;
    let mut datastores: Vec<Datastore> = (0..plain)
        .map(|i| Datastore {
            name: format!("vmfs-{i:02}"),
            kind: DatastoreKind::Vmfs,
            capacity_gb: 16384,
            free_gb: 8192,
            storage_pod: None,
            mounts: mounts(i == 0),
        })
        .collect();
    for i in 0..2 {
        datastores.push(Datastore {
            name: format!("vmfs-pod-{i:02}"),
            kind: DatastoreKind::Vmfs,
            capacity_gb: 16384,
            free_gb: 4096,
            storage_pod: Some("DSC-Scale".to_owned()),
            mounts: mounts(false),
        });
    }
    let scsi = [
        ScsiKind::Lsilogic,
        ScsiKind::Pvscsi,
        ScsiKind::LsilogicSas,
        ScsiKind::Pvscsi,
    ];
    let vms = (0..vm_count)
        .map(|i| {
            let datastore = datastores[i % datastores.len()].name.clone();
            let mut extra_config = BTreeMap::new();
            match i % 3 {
                0 => {
                    extra_config.insert("disk.EnableUUID".to_owned(), "TRUE".to_owned());
                }
                1 => {
                    extra_config.insert("disk.EnableUUID".to_owned(), "FALSE".to_owned());
                }
                _ => {}
            }
            Vm {
                name: format!("vm{i:05}"),
                guest_id: if i % 2 == 0 {
                    "rhel8_64Guest".to_owned()
                } else {
                    "windows9Server64Guest".to_owned()
                },
                host: hosts[i % host_count].name.clone(),
                datastore: datastore.clone(),
                power_state: if i % 4 == 3 {
                    PowerState::PoweredOff
                } else {
                    PowerState::PoweredOn
                },
                scsi: scsi[i % scsi.len()],
                disks: vec![
                    Disk {
                        size_gb: 40,
                        datastore: None,
                        uuid: None,
                    },
                    Disk {
                        size_gb: 100 + (i % 7) as u64 * 10,
                        datastore: None,
                        uuid: None,
                    },
                ],
                bios_uuid: None,
                extra_config,
                snapshots: if i % 10 == 0 {
                    vec!["before-failover".to_owned()]
                } else {
                    Vec::new()
                },
                tools_running_status: if i % 9 == 4 {
                    ToolsRunningStatus::GuestToolsNotRunning
                } else {
                    ToolsRunningStatus::GuestToolsRunning
                },
                sdrs_behavior: if i % 11 == 5 {
                    SdrsBehavior::Manual
                } else {
                    SdrsBehavior::Default
                },
            }
        })
        .collect();
    Estate {
        vcenter: VcenterEstate {
            datacenter: "DC-Scale".to_owned(),
            version: "7.0.3".to_owned(),
            users: vec![User {
                name: "administrator@vsphere.local".to_owned(),
                password: "VMware1!".to_owned(),
                privileges: [
                    "System.Anonymous",
                    "System.View",
                    "System.Read",
                    "VirtualMachine.Config.AdvancedConfig",
                    "VirtualMachine.State.RemoveSnapshot",
                    "Datastore.Browse",
                    "Datastore.AllocateSpace",
                ]
                .map(str::to_owned)
                .to_vec(),
                hide_types: Vec::new(),
                vm_privileges: std::collections::BTreeMap::new(),
            }],
            hosts,
            storage_pods: vec![StoragePod {
                name: "DSC-Scale".to_owned(),
                sdrs_enabled: true,
                default_vm_behavior: "automated".to_owned(),
            }],
            datastores,
            vms,
        },
        vault: VaultEstate {
            subscription_id: "00000000-0000-0000-0000-000000000001".to_owned(),
            resource_group: "rg-dr".to_owned(),
            name: "scale-vault".to_owned(),
            configuration_servers: Vec::new(),
            policies: Vec::new(),
            protected_items: Vec::new(),
            recovery_plans: Vec::new(),
            behaviour: Default::default(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_estates_have_the_asked_size_and_round_trip_through_json() {
        for n in [0, 1, 100, 1000] {
            let estate = scale_estate(n);
            assert_eq!(estate.vcenter.vms.len(), n);
            let back = Estate::from_json(&estate.to_json_pretty()).expect("valid estate");
            assert_eq!(back, estate);
        }
        let big = scale_estate(5000);
        assert_eq!(big.vcenter.hosts.len(), 64);
        // Every VM's datastore is mounted on its host.
        for vm in &big.vcenter.vms {
            let ds = big
                .vcenter
                .datastores
                .iter()
                .find(|d| d.name == vm.datastore)
                .expect("datastore exists");
            assert!(ds.mounts.iter().any(|m| m.host == vm.host), "{}", vm.name);
        }
    }

    #[test]
    fn authority_is_host_and_port_of_the_url() {
        assert_eq!(authority_of("https://127.0.0.1:8989/sdk"), "127.0.0.1:8989");
        assert_eq!(authority_of("127.0.0.1:1"), "127.0.0.1:1");
    }
}
