//! failback's benchmark binary: each case prints one line, `bench <case> key=value ...`.
//!
//! `failback-bench` runs every case; `failback-bench <case> [sizes...]` runs one.

mod plan_offline;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let case = args.first().map(String::as_str).unwrap_or("all");
    let sizes: Vec<usize> = args.iter().skip(1).filter_map(|n| n.parse().ok()).collect();
    let result = match case {
        "plan_offline" | "all" => plan_offline::run(if sizes.is_empty() {
            plan_offline::SIZES
        } else {
            &sizes
        }),
        other => Err(format!("unknown bench case `{other}`; known: plan_offline")),
    };
    if let Err(err) = result {
        eprintln!("failback-bench: {err}");
        std::process::exit(1);
    }
}
