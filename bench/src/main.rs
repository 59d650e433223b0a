//! failback's benchmark binary: each case prints one line, `bench <case> key=value ...`.
//!
//! `failback-bench all` runs every case; `failback-bench CASE...` runs the named ones.
//! A case is a module `src/<case>.rs` whose `run` prints its lines (one per measured
//! size), plus one entry in [`CASES`].

use std::process::ExitCode;

mod plan_offline;
mod validate;
mod vcenter;

type Case = fn() -> Result<(), String>;

/// Every case, by name, in the order `all` runs them.
const CASES: &[(&str, Case)] = &[
    ("validate", || {
        validate::run().map(|line| println!("{line}"))
    }),
    ("vcenter_discovery", || vcenter::run(vcenter::SIZES)),
    ("plan_offline", || plan_offline::run(plan_offline::SIZES)),
];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let names: Vec<&str> = match args.as_slice() {
        [] => {
            eprintln!(
                "usage: failback-bench all | CASE...\ncases: {}",
                CASES.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
            );
            return ExitCode::from(2);
        }
        [all] if all == "all" => CASES.iter().map(|(n, _)| *n).collect(),
        names => names.iter().map(String::as_str).collect(),
    };
    let mut failed = false;
    for name in names {
        let Some((_, case)) = CASES.iter().find(|(n, _)| *n == name) else {
            eprintln!("failback-bench: unknown case {name:?}");
            failed = true;
            continue;
        };
        match case() {
            Ok(()) => {}
            Err(message) => {
                eprintln!("failback-bench: {name} failed: {message}");
                failed = true;
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
