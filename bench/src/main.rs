//! failback's benchmark binary: each case prints one line, `bench <case> key=value ...`.
//!
//! `failback-bench [CASE...]` runs the named cases (all when none is named):
//! `plan` (1,000 and 5,000 protected VMs, or `plan=N` for one size) and `apply`
//! (1,000 reprotects, or `apply=N`). Measure with `cargo run --release -p
//! failback-bench`; see docs/benchmarks.md for what each figure means.

mod apply;
mod estates;
mod plan;

use std::path::PathBuf;
use std::process::ExitCode;

use miette::miette;

/// Protected VMs of the `plan` case's estates.
const PLAN_SIZES: [usize; 2] = [1_000, 5_000];
/// Reprotects of the `apply` case, and how many run at once.
const APPLY_ITEMS: usize = 1_000;
const APPLY_PARALLELISM: usize = 50;

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("{err:?}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Vec<String>) -> miette::Result<()> {
    if args.first().map(String::as_str) == Some(plan::CHILD_FLAG) {
        let dir = args
            .get(1)
            .ok_or_else(|| miette!("{} needs a directory", plan::CHILD_FLAG))?;
        return plan::child(&PathBuf::from(dir));
    }
    let cases = if args.is_empty() {
        vec!["plan".to_owned(), "apply".to_owned()]
    } else {
        args
    };
    for case in &cases {
        let (name, size) = match case.split_once('=') {
            Some((name, size)) => {
                let size: usize = size
                    .parse()
                    .map_err(|_| miette!("`{case}`: the size after `=` must be a whole number"))?;
                (name, Some(size))
            }
            None => (case.as_str(), None),
        };
        match name {
            "plan" => plan::run(&size.map_or(PLAN_SIZES.to_vec(), |n| vec![n]))?,
            "apply" => apply::run(size.unwrap_or(APPLY_ITEMS), APPLY_PARALLELISM)?,
            other => {
                return Err(miette!(
                    help = "the cases are: plan, apply (optionally plan=N, apply=N)",
                    "unknown case `{other}`"
                ));
            }
        }
    }
    Ok(())
}
