//! failback's benchmark binary: each case prints one line, `bench <case> key=value ...`.
//!
//! `failback-bench` runs every case; `failback-bench <case>` runs one. The
//! `vcenter_discovery` case takes optional VM counts (`failback-bench vcenter_discovery 100 1000`).

mod vcenter;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let case = args.first().map(String::as_str).unwrap_or("all");
    let result = match case {
        "vcenter_discovery" | "all" => {
            let sizes: Vec<usize> = args.iter().skip(1).filter_map(|n| n.parse().ok()).collect();
            vcenter::run(if sizes.is_empty() {
                vcenter::SIZES
            } else {
                &sizes
            })
        }
        other => Err(format!(
            "unknown bench case `{other}`; known: vcenter_discovery"
        )),
    };
    if let Err(err) = result {
        eprintln!("failback-bench: {err}");
        std::process::exit(1);
    }
}
