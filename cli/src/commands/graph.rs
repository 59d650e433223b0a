//! `failback graph`: prints the dependency graph of the configuration's objects as
//! Graphviz DOT or JSON.

use clap::Args as ClapArgs;
use failback_engine::graph::Graph;

use crate::command_error::{CommandError, Exit};
use crate::commands::GlobalArgs;
use crate::commands::config_args::{ConfigArgs, load_valid_config};
use crate::ui::Ui;

/// Print the dependency graph of the configuration.
///
/// One node per object (each for_each instance is its own node), one edge from each
/// dependency to what depends on it: the order apply runs in. Render the DOT output
/// with Graphviz: `failback graph | dot -Tsvg > graph.svg`.
#[derive(Debug, Clone, ClapArgs)]
pub struct Args {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Output format.
    #[arg(long, value_enum, default_value = "dot")]
    pub format: GraphFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GraphFormat {
    /// Graphviz DOT.
    Dot,
    /// `{"nodes": [...], "edges": [{"from", "to", "label"}]}`.
    Json,
}

pub fn cmd_graph(ui: &mut Ui, global: &GlobalArgs, args: &Args) -> Result<Exit, CommandError> {
    let (config, warnings) = load_valid_config(global, &args.config)
        .map_err(|diagnostics| CommandError::many(diagnostics.to_reports()))?;
    for report in warnings.to_reports() {
        ui.report_diagnostic(&report);
    }
    let graph = Graph::build(&config);
    let text = match args.format {
        GraphFormat::Dot => graph.to_dot(),
        GraphFormat::Json => {
            let json = serde_json::to_string_pretty(&graph.to_json())
                .map_err(|e| CommandError::user(miette::miette!("cannot encode the graph: {e}")))?;
            format!("{json}\n")
        }
    };
    ui.write_data(&text);
    Ok(Exit::Success)
}
