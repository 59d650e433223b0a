//! A launcher for Azurite's blob service (Microsoft's Azure Storage emulator, from
//! npm), so that the `azurerm` state backend's tests talk to a real Blob API:
//! leases, metadata and Shared Key authentication behave as Azure's do.
//!
//! [`Azurite::start`] runs `node_modules/.bin/azurite-blob` from the workspace root
//! (or `azurite-blob` on PATH) on 127.0.0.1 and a free port, with its data in a
//! temporary directory, waits until it accepts connections, and stops it on drop.
//! When Azurite is not installed it fails saying how to install it: the tests that
//! need it must fail, not skip, or a broken backend would pass CI unseen.

use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The emulator's account.
pub const AZURITE_ACCOUNT: &str = "devstoreaccount1";
/// The emulator's published, well-known development key (not a secret).
pub const AZURITE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// How long Azurite may take to listen (it starts in under a second on a quiet
/// machine; CI machines are shared).
const START_DEADLINE: Duration = Duration::from_secs(60);
const START_ATTEMPTS: usize = 3;

/// Why Azurite did not start.
#[derive(Debug, thiserror::Error)]
pub enum AzuriteError {
    #[error(
        "Azurite is not installed: run `npm install azurite` in the workspace root ({root}), \
         or put `azurite-blob` on PATH; the azurerm state backend's tests need it"
    )]
    NotInstalled { root: PathBuf },
    #[error("cannot prepare Azurite's data directory: {0}")]
    Workspace(#[source] std::io::Error),
    #[error("cannot find a free port on 127.0.0.1: {0}")]
    Port(#[source] std::io::Error),
    #[error("cannot start {}: {source}", binary.display())]
    Spawn {
        binary: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("Azurite did not start within {} s; its output:\n{output}", START_DEADLINE.as_secs())]
    Timeout { output: String },
    #[error("Azurite exited before listening ({status}); its output:\n{output}")]
    Exited { status: String, output: String },
}

/// A running Azurite blob service; stopped when dropped.
#[derive(Debug)]
pub struct Azurite {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Azurite {
    /// Starts Azurite's blob service on a free loopback port.
    pub fn start() -> Result<Azurite, AzuriteError> {
        let binary = find_binary()?;
        let mut last_error = None;
        // A port found free can be taken before Azurite binds it: try another.
        for _ in 0..START_ATTEMPTS {
            match Azurite::start_once(&binary) {
                Ok(azurite) => return Ok(azurite),
                Err(err @ AzuriteError::Exited { .. }) => last_error = Some(err),
                Err(err) => return Err(err),
            }
        }
        Err(last_error.unwrap_or(AzuriteError::Timeout {
            output: String::new(),
        }))
    }

    fn start_once(binary: &Path) -> Result<Azurite, AzuriteError> {
        let dir = tempfile::tempdir().map_err(AzuriteError::Workspace)?;
        let data = dir.path().join("data");
        std::fs::create_dir(&data).map_err(AzuriteError::Workspace)?;
        let log_path = dir.path().join("azurite.log");
        let log = File::create(&log_path).map_err(AzuriteError::Workspace)?;
        let log_err = log.try_clone().map_err(AzuriteError::Workspace)?;
        let port = free_port()?;
        let child = Command::new(binary)
            .arg("--blobHost")
            .arg("127.0.0.1")
            .arg("--blobPort")
            .arg(port.to_string())
            .arg("--location")
            .arg(&data)
            .args([
                "--silent",
                "--skipApiVersionCheck",
                "--loose",
                "--disableTelemetry",
            ])
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(|source| AzuriteError::Spawn {
                binary: binary.to_owned(),
                source,
            })?;
        let mut azurite = Azurite {
            child,
            port,
            _dir: dir,
        };
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = azurite.child.try_wait() {
                return Err(AzuriteError::Exited {
                    status: status.to_string(),
                    output: std::fs::read_to_string(&log_path).unwrap_or_default(),
                });
            }
            if TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok() {
                return Ok(azurite);
            }
            if started.elapsed() > START_DEADLINE {
                return Err(AzuriteError::Timeout {
                    output: std::fs::read_to_string(&log_path).unwrap_or_default(),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The blob endpoint: `http://127.0.0.1:PORT/devstoreaccount1`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}/{AZURITE_ACCOUNT}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for Azurite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The workspace root (the parent of the sim crate).
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(".."))
}

/// `node_modules/.bin/azurite-blob` in the workspace root, else `azurite-blob` on PATH.
fn find_binary() -> Result<PathBuf, AzuriteError> {
    let root = workspace_root();
    let local = root.join("node_modules").join(".bin").join("azurite-blob");
    if local.is_file() {
        return Ok(local);
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .map(|dir| dir.join("azurite-blob"))
        .find(|candidate| candidate.is_file())
        .ok_or(AzuriteError::NotInstalled { root })
}

fn free_port() -> Result<u16, AzuriteError> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(AzuriteError::Port)?;
    let port = listener.local_addr().map_err(AzuriteError::Port)?.port();
    Ok(port)
}
