//! The failback configuration language: loading `*.hcl` files, evaluating
//! expressions, and mapping blocks to typed structs that keep their source spans.
//!
//! [`load`] is the entry point: it parses every file with hcl-edit (spans),
//! checks blocks against the [`schema`], resolves references, orders declarations by
//! their dependencies (reporting cycles), evaluates them with hcl-rs, and decodes the
//! typed [`Config`]. Every problem found along the way is collected, so one run
//! reports all of them.

pub mod diagnostic;
pub mod model;
pub mod schema;
pub mod variables;

mod decode;
mod eval;
mod expr;
mod functions;
mod load;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};

use petgraph::graph::{DiGraph, NodeIndex};

pub use diagnostic::{Diagnostic, Diagnostics, Sources};
pub use model::*;
pub use variables::{ENV_PREFIX, VariableInputs};

use eval::{Evaluator, InputValue};
use load::{Node, NodeKind};

/// What one load produced: the configuration (as far as it could be evaluated) and
/// every diagnostic, warnings included.
#[derive(Debug)]
pub struct Loaded {
    pub config: Config,
    pub diagnostics: Diagnostics,
}

/// Loads and evaluates every `*.hcl` file of `dir`. Fails with every error found;
/// warnings alone do not fail it (use [`load_report`] to see them).
pub fn load(dir: &Path, inputs: &VariableInputs) -> Result<Config, Diagnostics> {
    let loaded = load_report(dir, inputs);
    if loaded.diagnostics.has_errors() {
        Err(loaded.diagnostics)
    } else {
        Ok(loaded.config)
    }
}

/// Like [`load`], but always returns the diagnostics, warnings included.
pub fn load_report(dir: &Path, inputs: &VariableInputs) -> Loaded {
    let mut diagnostics = Diagnostics::default();
    let files = load::read_dir(dir, &mut diagnostics);
    load_files(dir, files, inputs, diagnostics)
}

/// Loads configuration text given in memory (file name relative to `dir`, text);
/// `dir` is where `file()` and relative paths resolve.
pub fn load_sources(dir: &Path, files: Vec<(PathBuf, String)>, inputs: &VariableInputs) -> Loaded {
    load_files(dir, files, inputs, Diagnostics::default())
}

fn load_files(
    dir: &Path,
    files: Vec<(PathBuf, String)>,
    inputs: &VariableInputs,
    mut diagnostics: Diagnostics,
) -> Loaded {
    let _dir_guard = functions::ConfigDirGuard::set(dir);
    let bodies = load::parse_files(files, &mut diagnostics);
    let mut nodes = load::declarations(&bodies, &mut diagnostics);
    load::resolve(&mut nodes, &mut diagnostics);
    let input_values = collect_inputs(&nodes, inputs, &mut diagnostics);
    let (order, in_cycles) = evaluation_order(&nodes, &mut diagnostics);
    let mut config = {
        let mut evaluator = Evaluator::new(&nodes, input_values, &mut diagnostics);
        for node in in_cycles {
            evaluator.mark_failed(node);
        }
        evaluator.evaluate(&order);
        std::mem::take(&mut evaluator.config)
    };
    diagnostics.sort();
    config.sources = diagnostics.sources.clone();
    Loaded {
        config,
        diagnostics,
    }
}

/// Orders declarations so that each comes after what it uses; reports every cycle
/// with its whole path and returns the nodes on cycles separately.
fn evaluation_order(nodes: &[Node<'_>], diagnostics: &mut Diagnostics) -> (Vec<usize>, Vec<usize>) {
    let mut graph: DiGraph<usize, ()> = DiGraph::with_capacity(nodes.len(), nodes.len());
    let indices: Vec<NodeIndex> = (0..nodes.len()).map(|i| graph.add_node(i)).collect();
    for (i, node) in nodes.iter().enumerate() {
        for &dep in &node.deps {
            graph.add_edge(indices[dep], indices[i], ());
        }
    }
    let mut order = Vec::with_capacity(nodes.len());
    let mut in_cycles = Vec::new();
    // tarjan_scc yields components in reverse topological order.
    for component in petgraph::algo::tarjan_scc(&graph).into_iter().rev() {
        let is_cycle = component.len() > 1
            || component
                .first()
                .is_some_and(|&n| graph.contains_edge(n, n));
        if !is_cycle {
            order.extend(component.iter().map(|&n| graph[n]));
            continue;
        }
        let members: Vec<usize> = component.iter().map(|&n| graph[n]).collect();
        in_cycles.extend(&members);
        diagnostics.push(cycle_diagnostic(nodes, &graph, &members));
    }
    (order, in_cycles)
}

fn cycle_diagnostic(
    nodes: &[Node<'_>],
    graph: &DiGraph<usize, ()>,
    members: &[usize],
) -> Diagnostic {
    let start = members
        .iter()
        .copied()
        .min_by(|&a, &b| nodes[a].key.cmp(&nodes[b].key))
        .unwrap_or(members[0]);
    // Shortest way from `start` back to itself inside the component, for the message.
    let mut previous: HashMap<usize, usize> = HashMap::new();
    let mut queue = VecDeque::from([start]);
    let mut closing = None;
    while let Some(at) = queue.pop_front() {
        for next in graph.neighbors(NodeIndex::new(at)).map(|n| graph[n]) {
            if !members.contains(&next) {
                continue;
            }
            if next == start {
                closing = Some(at);
                queue.clear();
                break;
            }
            if let std::collections::hash_map::Entry::Vacant(entry) = previous.entry(next) {
                entry.insert(at);
                queue.push_back(next);
            }
        }
    }
    let mut path = vec![start];
    let mut at = closing.unwrap_or(start);
    while at != start {
        path.push(at);
        at = previous.get(&at).copied().unwrap_or(start);
    }
    path[1..].reverse();
    let mut names: Vec<&str> = path.iter().map(|&n| nodes[n].key.as_str()).collect();
    names.push(&nodes[start].key);
    let mut d = Diagnostic::error(
        "config::cycle",
        format!("dependency cycle: {}", names.join(" → ")),
    )
    .at(
        nodes[start].header.clone(),
        "this depends on itself through the cycle",
    )
    .help("break the cycle: one of these must not refer to the next");
    for &n in &path[1..] {
        d = d.related(
            nodes[n].header.clone(),
            format!("{} is part of the cycle", nodes[n].key),
        );
    }
    d
}

/// Gathers variable values from the environment, var-files and `-var` flags, in
/// increasing precedence.
fn collect_inputs(
    nodes: &[Node<'_>],
    inputs: &VariableInputs,
    diagnostics: &mut Diagnostics,
) -> HashMap<String, InputValue> {
    let variables: HashMap<&str, &Node<'_>> = nodes
        .iter()
        .filter(|n| n.kind == NodeKind::Variable)
        .map(|n| (n.name.as_str(), n))
        .collect();
    let mut ctx = hcl::eval::Context::new();
    functions::declare_all(&mut ctx);
    let mut values = HashMap::new();
    let unknown = |name: &str, from: &str| {
        let mut d = Diagnostic::error(
            "config::unknown_variable",
            format!("{from} sets `{name}`, but no variable \"{name}\" is declared"),
        );
        d = match schema::did_you_mean(name, variables.keys().copied()) {
            Some(close) => d.help(format!("did you mean `{close}`?")),
            None => d.help(format!(
                "declare it: `variable \"{name}\" {{}}`, or remove the setting"
            )),
        };
        d
    };
    let set_raw = |values: &mut HashMap<String, InputValue>,
                   name: &str,
                   raw: &str,
                   source: String,
                   diagnostics: &mut Diagnostics| {
        let Some(node) = variables.get(name) else {
            return false;
        };
        match eval::parse_input(&node.var_type, raw, &ctx) {
            Ok(value) => {
                values.insert(name.to_owned(), InputValue { value, source });
            }
            Err(message) => diagnostics.push(
                Diagnostic::error(
                    "config::invalid_variable_value",
                    format!("the value of variable `{name}` from {source} is invalid: {message}"),
                )
                .at(node.header.clone(), "declared here")
                .help(
                    "complex types take HCL syntax, e.g. -var 'vms={ web01 = { os = \"linux\" } }'",
                ),
            ),
        }
        true
    };
    for (name, raw) in &inputs.env {
        // Environment variables for undeclared names are ignored, as Terraform does:
        // the same environment often serves several configurations.
        set_raw(
            &mut values,
            name,
            raw,
            format!("{ENV_PREFIX}{name}"),
            diagnostics,
        );
    }
    for path in &inputs.var_files {
        read_var_file(path, &variables, &mut values, diagnostics);
    }
    for flag in &inputs.vars {
        let Some((name, raw)) = flag.split_once('=') else {
            diagnostics.push(
                Diagnostic::error(
                    "config::invalid_var_flag",
                    format!("-var {flag:?} has no `=`"),
                )
                .help("write -var NAME=VALUE"),
            );
            continue;
        };
        let name = name.trim();
        if !set_raw(&mut values, name, raw, "-var".to_owned(), diagnostics) {
            diagnostics.push(unknown(name, "-var"));
        }
    }
    values
}

fn read_var_file(
    path: &Path,
    variables: &HashMap<&str, &Node<'_>>,
    values: &mut HashMap<String, InputValue>,
    diagnostics: &mut Diagnostics,
) {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) => {
            diagnostics.push(
                Diagnostic::error(
                    "config::unreadable_file",
                    format!("cannot read the var-file {}: {e}", path.display()),
                )
                .help("-var-file takes the path of an HCL file of `name = value` lines"),
            );
            return;
        }
    };
    let parsed = load::parse_files(vec![(path.to_path_buf(), text)], diagnostics);
    let Some((file, body)) = parsed.first() else {
        return;
    };
    let mut ctx = hcl::eval::Context::new();
    functions::declare_all(&mut ctx);
    let source = format!("the var-file {}", path.display());
    for structure in body.iter() {
        let Some(attribute) = structure.as_attribute() else {
            let span = file.span(hcl_edit::Span::span(structure).unwrap_or(0..0));
            diagnostics.push(
                Diagnostic::error(
                    "config::unexpected_block",
                    "a var-file holds only `name = value` lines",
                )
                .at(span, "a block")
                .help("set variables as attributes: `name = value`"),
            );
            continue;
        };
        let name = attribute.key.as_str();
        let attr = load::convert_attr(file, attribute);
        if !variables.contains_key(name) {
            let mut d = Diagnostic::warning(
                "config::unknown_variable",
                format!("the var-file sets `{name}`, but no variable \"{name}\" is declared"),
            )
            .at(attr.span.clone(), "not a declared variable");
            d = match schema::did_you_mean(name, variables.keys().copied()) {
                Some(close) => d.help(format!("did you mean `{close}`?")),
                None => d.help("the value is ignored; declare the variable or remove the line"),
            };
            diagnostics.push(d);
            continue;
        }
        match hcl::eval::Evaluate::evaluate(&attr.expr, &ctx) {
            Ok(value) => {
                values.insert(
                    name.to_owned(),
                    InputValue {
                        value,
                        source: source.clone(),
                    },
                );
            }
            Err(e) => diagnostics.push(
                Diagnostic::error(
                    "config::evaluation",
                    format!("cannot evaluate the value of `{name}`: {}", e.kind()),
                )
                .at(attr.value_span.clone(), "here")
                .help("var-files hold plain values; they cannot refer to variables or blocks"),
            ),
        }
    }
}
