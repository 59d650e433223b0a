//! The `plan_offline` case: everything `plan` does after discovery, for generated
//! estates of 1,000 and 5,000 reprotects (Windows and Linux master targets, recovery
//! plans of five, agents still registering, snapshot removals, warnings): making the
//! plan, the three renderings and the saved plan. Discovery is measured by the
//! provider cases; this is the `non_discovery` part of `bench plan`.
//!
//! Prints `bench plan_offline vms=N actions=A make_plan_s= human_s= json_s= markdown_s=
//! save_s= total_s= saved_mb= markdown_chars= rss_mb=` per size.

use std::time::Instant;

use failback_cli::render::markdown::ApplyHint;
use failback_cli::render::{Paint, Sources, human, json, markdown};
use failback_engine::plan::worlds;

/// The estate sizes measured.
pub const SIZES: &[usize] = &[1_000, 5_000];

pub fn run(sizes: &[usize]) -> Result<(), String> {
    for &vms in sizes {
        let world = worlds::generated(vms);
        let sources = Sources::from_files(world.sources.clone());

        let started = Instant::now();
        let plan = world.plan();
        let make_plan = started.elapsed().as_secs_f64();

        let t = Instant::now();
        let human_text = human::render(&plan, &sources, Paint::new(false));
        let human_s = t.elapsed().as_secs_f64();

        let t = Instant::now();
        let json_text = json::render(&plan);
        let json_s = t.elapsed().as_secs_f64();

        let t = Instant::now();
        let hint = ApplyHint::Command("failback apply failback.plan".to_owned());
        let markdown_text = markdown::render(&plan, &sources, &hint);
        let markdown_s = t.elapsed().as_secs_f64();

        let t = Instant::now();
        let saved = serde_json::to_string_pretty(&plan).map_err(|err| err.to_string())?;
        let save_s = t.elapsed().as_secs_f64();
        let total = started.elapsed().as_secs_f64();

        // Keep the renderings alive until measured, so none is optimised away.
        let rendered = human_text.len() + json_text.len();
        println!(
            "bench plan_offline vms={vms} actions={} make_plan_s={make_plan:.3} human_s={human_s:.3} \
             json_s={json_s:.3} markdown_s={markdown_s:.3} save_s={save_s:.3} total_s={total:.3} \
             saved_mb={:.1} rendered_mb={:.1} markdown_chars={} rss_mb={}",
            plan.actions.len(),
            saved.len() as f64 / 1e6,
            rendered as f64 / 1e6,
            markdown_text.chars().count(),
            peak_rss_mb().map_or_else(|| "unknown".to_owned(), |mb| format!("{mb:.0}")),
        );
    }
    Ok(())
}

/// Peak resident set size of this process (Linux `VmHWM`), in MB.
fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}
