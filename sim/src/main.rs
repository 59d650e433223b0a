//! `failback-sim --estate FILE`: serves one estate's world on loopback.
//!
//! The ASR (ARM) simulator runs in this process; the vCenter half runs as the
//! `sim/vcsim` harness, a child process (`--no-vcenter` serves the vault alone). One
//! JSON line on stdout tells a client everything it needs; the simulator stops on
//! SIGTERM, SIGINT, or when its stdin closes (so a parent that dies takes it along).

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use failback_sim::asr::{AsrSimulator, DEFAULT_TOKEN, SimOptions, consistency};
use failback_sim::estate::Estate;
use serde_json::{Value, json};

/// Serve an estate's ASR vault (and its vCenter) on loopback for failback's tests and demo.
#[derive(Debug, Parser)]
#[command(name = "failback-sim", version)]
struct Args {
    /// The estate file (JSON) describing the world to serve.
    #[arg(long, value_name = "FILE")]
    estate: PathBuf,
    /// Where the ASR simulator listens (loopback only; port 0 picks a free port).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Serve the vault alone, without starting the vCenter harness.
    #[arg(long)]
    no_vcenter: bool,
    /// Items per page of every list (nextLink paging).
    #[arg(long, value_name = "N", default_value_t = 100)]
    page_size: usize,
    /// Overrides the estate's behaviour.time_scale.
    #[arg(long, value_name = "FACTOR")]
    time_scale: Option<f64>,
    /// Overrides the estate's behaviour.faults.seed.
    #[arg(long, value_name = "SEED")]
    seed: Option<u64>,
    /// The bearer token clients must send.
    #[arg(long, value_name = "TOKEN", default_value = DEFAULT_TOKEN, hide_default_value = true)]
    token: String,
    /// Keep running when stdin closes (stop only on SIGTERM/SIGINT).
    #[arg(long)]
    ignore_stdin: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("failback-sim: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(run(args));
    // The stdin reader sits in a blocking thread that may never return; do not wait
    // for it.
    runtime.shutdown_background();
    code
}

async fn run(args: Args) -> ExitCode {
    // Handlers go in before the JSON line is printed: a parent may signal as soon as
    // it has read it.
    let signals = match Signals::install() {
        Ok(signals) => signals,
        Err(err) => {
            eprintln!("failback-sim: cannot install signal handlers: {err}");
            return ExitCode::FAILURE;
        }
    };
    let estate = match Estate::load(&args.estate) {
        Ok(estate) => estate,
        Err(err) => {
            eprintln!("failback-sim: invalid estate: {err}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(problem) = consistency::check_vault(&estate.vault) {
        eprintln!(
            "failback-sim: invalid estate: {}: at `{}`: {}",
            args.estate.display(),
            problem.json_path,
            problem.message
        );
        return ExitCode::FAILURE;
    }
    if args.page_size == 0 {
        eprintln!("failback-sim: --page-size must be at least 1");
        return ExitCode::FAILURE;
    }
    let vcenter = if args.no_vcenter {
        None
    } else {
        match vcenter::start(&args.estate).await {
            Ok(vcenter) => Some(vcenter),
            Err(err) => {
                eprintln!("failback-sim: cannot start the vCenter harness: {err}");
                eprintln!("  (use --no-vcenter to serve the vault alone)");
                return ExitCode::FAILURE;
            }
        }
    };
    let options = SimOptions {
        page_size: args.page_size,
        time_scale: args.time_scale,
        listen: args.listen,
        token: args.token,
        fault_seed: args.seed,
        vcenter_address: vcenter.as_ref().and_then(vcenter::host),
        ..SimOptions::default()
    };
    let asr = match AsrSimulator::start(estate, options).await {
        Ok(asr) => asr,
        Err(err) => {
            eprintln!("failback-sim: cannot start the ASR simulator: {err}");
            return ExitCode::FAILURE;
        }
    };
    let line = json!({
        "asr": {
            "endpoint": asr.endpoint(),
            "token": asr.token(),
            "subscription_id": asr.subscription_id,
            "resource_group": asr.resource_group,
            "vault": asr.vault,
        },
        "vcenter": vcenter.as_ref().map(vcenter::describe).unwrap_or(Value::Null),
    });
    let mut stdout = std::io::stdout().lock();
    if writeln!(stdout, "{line}")
        .and_then(|()| stdout.flush())
        .is_err()
    {
        eprintln!("failback-sim: cannot write to stdout");
        return ExitCode::FAILURE;
    }
    drop(stdout);

    let reason = wait_for_stop(signals, args.ignore_stdin).await;
    eprintln!("failback-sim: stopping ({reason})");
    asr.shutdown().await;
    // `vcenter` goes out of scope here: dropping the harness handle stops the child.
    ExitCode::SUCCESS
}

/// SIGTERM and SIGINT, caught from the start.
struct Signals {
    terminate: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> std::io::Result<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            terminate: signal(SignalKind::terminate())?,
            interrupt: signal(SignalKind::interrupt())?,
        })
    }
}

/// Waits for SIGTERM, SIGINT or end of stdin; says which.
async fn wait_for_stop(mut signals: Signals, ignore_stdin: bool) -> &'static str {
    use tokio::io::AsyncReadExt;

    let stdin_closed = async move {
        if ignore_stdin {
            return std::future::pending::<()>().await;
        }
        let mut stdin = tokio::io::stdin();
        let mut buffer = [0u8; 256];
        loop {
            match stdin.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::select! {
        _ = stdin_closed => "stdin closed",
        _ = signals.terminate.recv() => "SIGTERM",
        _ = signals.interrupt.recv() => "SIGINT",
    }
}

/// The vCenter half: the `sim/vcsim` harness as a child process.
mod vcenter {
    use std::path::Path;

    use failback_sim::vcsim::Vcsim;
    use serde_json::{Value, json};

    /// Builds (when needed) and starts the harness for the estate's vCenter half; the
    /// returned handle stops the child when dropped.
    pub async fn start(estate: &Path) -> Result<Vcsim, String> {
        let estate = estate.to_owned();
        // Building and waiting for the harness's ready line block.
        match tokio::task::spawn_blocking(move || Vcsim::start(&estate)).await {
            Ok(result) => result.map_err(|err| err.to_string()),
            Err(join) => Err(format!("the harness launcher stopped: {join}")),
        }
    }

    /// The host the harness listens on (`127.0.0.1`), as the configuration servers
    /// would have discovered it.
    pub fn host(vcsim: &Vcsim) -> Option<String> {
        url::Url::parse(&vcsim.url)
            .ok()
            .and_then(|url| url.host_str().map(str::to_owned))
    }

    /// What a client needs to reach the vCenter.
    pub fn describe(vcsim: &Vcsim) -> Value {
        json!({
            "url": vcsim.url,
            "ca_file": vcsim.ca_file.display().to_string(),
            "thumbprint_sha256": vcsim.thumbprint_sha256,
            "thumbprint_sha1": vcsim.thumbprint_sha1,
            "datacenter": vcsim.datacenter,
            "users": vcsim.users,
        })
    }
}
