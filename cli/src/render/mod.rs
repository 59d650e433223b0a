//! Renderings of a plan: for people at a terminal ([`human`]), for programs and policy
//! tools ([`json`]), and for pull-request comments ([`markdown`]).
//!
//! Renderers only read a [`Plan`]; they never decide anything. The same plan always
//! renders to the same text, so the three outputs can be pinned by snapshot tests.

pub mod findings;
pub mod human;
pub mod json;
pub mod markdown;
mod paint;
mod values;

use std::collections::BTreeMap;

use failback_engine::plan::{Plan, PlanSummary};

pub use paint::Paint;

/// The configuration files' text, by the path spans use, so that findings can show
/// their HCL snippet. Empty when rendering a saved plan without its configuration.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    files: BTreeMap<String, String>,
}

impl Sources {
    pub fn new() -> Sources {
        Sources::default()
    }

    pub fn from_files(files: impl IntoIterator<Item = (String, String)>) -> Sources {
        Sources {
            files: files.into_iter().collect(),
        }
    }

    pub fn insert(&mut self, file: impl Into<String>, text: impl Into<String>) {
        self.files.insert(file.into(), text.into());
    }

    pub fn get(&self, file: &str) -> Option<&str> {
        self.files.get(file).map(String::as_str)
    }
}

fn plural(count: usize, one: &str, many: &str) -> String {
    format!("{count} {}", if count == 1 { one } else { many })
}

/// The one-line result every rendering starts with:
/// `3 to reprotect, 1 to fix, 0 unchanged; 2 errors, 1 warning`.
pub fn summary_line(plan: &Plan) -> String {
    let summary: PlanSummary = plan.summary();
    let mut line = format!(
        "{} to reprotect, {} to fix, {} unchanged",
        summary.to_reprotect, summary.to_fix, summary.unchanged
    );
    if summary.drifted > 0 {
        line.push_str(&format!(", {} drifted", summary.drifted));
    }
    if summary.not_planned > 0 {
        line.push_str(&format!(", {} cannot be planned", summary.not_planned));
    }
    line.push_str(&format!(
        "; {}, {}",
        plural(summary.errors, "error", "errors"),
        plural(summary.warnings, "warning", "warnings")
    ));
    if summary.advice > 0 {
        line.push_str(&format!(", {} advice", summary.advice));
    }
    if summary.acknowledged > 0 {
        line.push_str(&format!(", {} acknowledged", summary.acknowledged));
    }
    line
}
