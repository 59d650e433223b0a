//! failback's benchmark binary: each case prints one line per measured size,
//! `bench <case> key=value ...`.
//!
//! `failback-bench all` runs every case; `failback-bench CASE...` runs the named ones,
//! and `CASE=N` runs a case at one size (`plan=1000`, `apply=200`,
//! `vcenter_discovery=100`, `apply_state=1000`). Measure with `cargo run --release -p failback-bench`;
//! docs/benchmarks.md says what each figure means. A case is a module
//! `src/<case>.rs` whose `run` prints its lines, plus one entry in [`CASES`].

use std::path::PathBuf;
use std::process::ExitCode;

mod apply;
mod apply_state;
mod estates;
mod plan;
mod plan_offline;
mod validate;
mod vcenter;

/// Protected VMs of the `plan` case's estates.
const PLAN_SIZES: [usize; 2] = [1_000, 5_000];
/// Reprotects of the `apply` case, and how many run at once.
const APPLY_ITEMS: usize = 1_000;
const APPLY_PARALLELISM: usize = 50;

/// A case, run at the given size or at its own sizes.
type Case = fn(Option<usize>) -> Result<(), String>;

/// Every case, by name, in the order `all` runs them.
const CASES: &[(&str, Case)] = &[
    ("validate", |_| {
        validate::run().map(|line| println!("{line}"))
    }),
    ("vcenter_discovery", |size| match size {
        Some(n) => vcenter::run(&[n]),
        None => vcenter::run(vcenter::SIZES),
    }),
    ("plan_offline", |size| match size {
        Some(n) => plan_offline::run(&[n]),
        None => plan_offline::run(plan_offline::SIZES),
    }),
    ("plan", |size| {
        plan::run(&size.map_or(PLAN_SIZES.to_vec(), |n| vec![n])).map_err(|e| format!("{e:?}"))
    }),
    ("apply", |size| {
        apply::run(size.unwrap_or(APPLY_ITEMS), APPLY_PARALLELISM).map_err(|e| format!("{e:?}"))
    }),
    ("apply_state", |size| {
        apply_state::run(size.unwrap_or(apply_state::ITEMS)).map_err(|e| format!("{e:?}"))
    }),
];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // The `plan` case measures each size in a fresh child process of this binary.
    if args.first().map(String::as_str) == Some(plan::CHILD_FLAG) {
        let Some(dir) = args.get(1) else {
            eprintln!("failback-bench: {} needs a directory", plan::CHILD_FLAG);
            return ExitCode::from(2);
        };
        return match plan::child(&PathBuf::from(dir)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("{err:?}");
                ExitCode::FAILURE
            }
        };
    }
    let requested: Vec<String> = match args.as_slice() {
        [] => {
            eprintln!(
                "usage: failback-bench all | CASE[=N]...\ncases: {}",
                CASES.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
            );
            return ExitCode::from(2);
        }
        [all] if all == "all" => CASES.iter().map(|(n, _)| (*n).to_owned()).collect(),
        names => names.to_vec(),
    };
    let mut failed = false;
    for request in &requested {
        let (name, size) = match request.split_once('=') {
            Some((name, size)) => match size.parse() {
                Ok(size) => (name, Some(size)),
                Err(_) => {
                    eprintln!("failback-bench: `{request}`: the size after `=` must be a number");
                    failed = true;
                    continue;
                }
            },
            None => (request.as_str(), None),
        };
        let Some((_, case)) = CASES.iter().find(|(n, _)| *n == name) else {
            eprintln!("failback-bench: unknown case {name:?}");
            failed = true;
            continue;
        };
        if let Err(message) = case(size) {
            eprintln!("failback-bench: {name} failed: {message}");
            failed = true;
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
