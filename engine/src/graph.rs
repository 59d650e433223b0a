//! The dependency graph of everything a configuration declares: a petgraph DAG whose
//! edges come from references between blocks and from the implicit dependencies of
//! the domain (a reprotect depends on its master target, process server,
//! configuration server and policy; a recovery plan on its members).
//!
//! Edges point from a dependency to its dependent, the order apply runs in. Loading
//! already rejected cycles, so the graph built from a loaded [`Config`] is acyclic.

use std::collections::{BTreeMap, BTreeSet};

use petgraph::Direction;
use petgraph::graph::{DiGraph, NodeIndex};
use serde::Serialize;

use crate::config::{Address, Config, Declared, Reference};

/// Why one object depends on another: the attribute that names it, or `implicit`
/// for dependencies the domain implies (a reprotect on its configuration server).
pub type EdgeLabel = String;

/// The objects of a configuration and their dependencies.
#[derive(Debug, Clone)]
pub struct Graph {
    pub graph: DiGraph<Address, EdgeLabel>,
    index: BTreeMap<Address, NodeIndex>,
}

#[derive(Debug, Serialize)]
struct JsonGraph<'a> {
    nodes: Vec<&'a Address>,
    edges: Vec<JsonEdge<'a>>,
}

#[derive(Debug, Serialize)]
struct JsonEdge<'a> {
    from: &'a Address,
    to: &'a Address,
    label: &'a str,
}

impl Graph {
    /// Builds the graph of every object (each `for_each` instance is its own node).
    pub fn build(config: &Config) -> Graph {
        let mut graph = Graph {
            graph: DiGraph::new(),
            index: BTreeMap::new(),
        };
        for address in config.block_addresses() {
            let node = graph.graph.add_node(address.clone());
            graph.index.insert(address.clone(), node);
        }

        for cs in &config.configuration_servers {
            graph.edge(&cs.vault, &cs.address, "vault");
            graph.edge(&cs.vcenter, &cs.address, "vcenter");
            graph.declared_edges(&cs.declared, &cs.address);
        }
        for ps in &config.process_servers {
            graph.edge(
                &ps.configuration_server,
                &ps.address,
                "configuration_server",
            );
            graph.declared_edges(&ps.declared, &ps.address);
        }
        for mt in &config.master_targets {
            graph.edge(
                &mt.configuration_server,
                &mt.address,
                "configuration_server",
            );
            graph.declared_edges(&mt.declared, &mt.address);
        }
        for reprotect in &config.reprotects {
            graph.edge(
                &reprotect.master_target,
                &reprotect.address,
                "master_target",
            );
            graph.edge(
                &reprotect.process_server,
                &reprotect.address,
                "process_server",
            );
            if let Some(policy) = &reprotect.policy {
                graph.edge(policy, &reprotect.address, "policy");
            }
            // The configuration server is reached through the master target and the
            // process server; it is a dependency of its own all the same.
            let servers = config
                .master_target(&reprotect.master_target.target)
                .map(|mt| &mt.configuration_server)
                .into_iter()
                .chain(
                    config
                        .process_server(&reprotect.process_server.target)
                        .map(|ps| &ps.configuration_server),
                );
            for server in servers {
                graph.edge(server, &reprotect.address, "implicit");
            }
            graph.declared_edges(&reprotect.declared, &reprotect.address);
        }
        for plan in &config.recovery_plans {
            for member in &plan.members {
                graph.edge(member, &plan.address, "members");
            }
            if let Some(mt) = &plan.master_target {
                graph.edge(mt, &plan.address, "master_target");
            }
            if let Some(ps) = &plan.process_server {
                graph.edge(ps, &plan.address, "process_server");
            }
            graph.declared_edges(&plan.declared, &plan.address);
        }
        for vcenter in &config.vcenters {
            graph.declared_edges(&vcenter.declared, &vcenter.address);
        }
        for vault in &config.vaults {
            graph.declared_edges(&vault.declared, &vault.address);
        }
        for policy in &config.failback_policies {
            graph.declared_edges(&policy.declared, &policy.address);
        }
        graph
    }

    /// The nodes a reference means: one instance, or every instance of a `for_each`
    /// block when the key was only known at evaluation.
    fn targets(&self, reference: &Reference) -> Vec<NodeIndex> {
        if let Some(&node) = self.index.get(&reference.target) {
            return vec![node];
        }
        if reference.target.key.is_none() {
            return self
                .index
                .iter()
                .filter(|(a, _)| a.kind == reference.target.kind && a.name == reference.target.name)
                .map(|(_, &n)| n)
                .collect();
        }
        Vec::new()
    }

    fn edge(&mut self, dependency: &Reference, dependent: &Address, label: &str) {
        let Some(&to) = self.index.get(dependent) else {
            return;
        };
        for from in self.targets(dependency) {
            if from != to && self.graph.find_edge(from, to).is_none() {
                self.graph.add_edge(from, to, label.to_owned());
            }
        }
    }

    /// Edges from references written in expressions (`master_target.mt.vm`).
    fn declared_edges(&mut self, declared: &Declared, dependent: &Address) {
        for reference in &declared.depends_on {
            self.edge(reference, dependent, "reference");
        }
    }

    pub fn node(&self, address: &Address) -> Option<NodeIndex> {
        self.index.get(address).copied()
    }

    /// What `address` directly depends on, sorted.
    pub fn dependencies(&self, address: &Address) -> Vec<&Address> {
        self.neighbors(address, Direction::Incoming)
    }

    /// What directly depends on `address`, sorted.
    pub fn dependents(&self, address: &Address) -> Vec<&Address> {
        self.neighbors(address, Direction::Outgoing)
    }

    fn neighbors(&self, address: &Address, direction: Direction) -> Vec<&Address> {
        let Some(node) = self.node(address) else {
            return Vec::new();
        };
        let mut found: Vec<&Address> = self
            .graph
            .neighbors_directed(node, direction)
            .map(|n| &self.graph[n])
            .collect();
        found.sort();
        found
    }

    /// Every object, each after everything it depends on; ties in address order, so
    /// the order is stable from run to run.
    pub fn apply_order(&self) -> Vec<&Address> {
        let mut remaining: BTreeMap<NodeIndex, usize> = self
            .graph
            .node_indices()
            .map(|n| {
                (
                    n,
                    self.graph
                        .neighbors_directed(n, Direction::Incoming)
                        .count(),
                )
            })
            .collect();
        let mut ready: BTreeSet<(&Address, NodeIndex)> = remaining
            .iter()
            .filter(|(_, count)| **count == 0)
            .map(|(&n, _)| (&self.graph[n], n))
            .collect();
        let mut order = Vec::with_capacity(self.graph.node_count());
        while let Some(next) = ready.pop_first() {
            order.push(next.0);
            for dependent in self.graph.neighbors_directed(next.1, Direction::Outgoing) {
                if let Some(count) = remaining.get_mut(&dependent) {
                    *count = count.saturating_sub(1);
                    if *count == 0 {
                        ready.insert((&self.graph[dependent], dependent));
                    }
                }
            }
        }
        order
    }

    /// Graphviz DOT: one node per object, edges from dependency to dependent.
    pub fn to_dot(&self) -> String {
        let mut out =
            String::from("digraph failback {\n  rankdir = \"LR\";\n  node [shape = box];\n");
        for address in self.apply_order() {
            out.push_str(&format!("  {};\n", dot_id(&address.to_string())));
        }
        for (from, to, label) in self.sorted_edges() {
            out.push_str(&format!(
                "  {} -> {} [label = {}];\n",
                dot_id(&from.to_string()),
                dot_id(&to.to_string()),
                dot_id(label)
            ));
        }
        out.push_str("}\n");
        out
    }

    /// `{"nodes": [...], "edges": [{"from", "to", "label"}]}`.
    pub fn to_json(&self) -> serde_json::Value {
        let json = JsonGraph {
            nodes: self.apply_order(),
            edges: self
                .sorted_edges()
                .into_iter()
                .map(|(from, to, label)| JsonEdge { from, to, label })
                .collect(),
        };
        serde_json::to_value(json).unwrap_or(serde_json::Value::Null)
    }

    fn sorted_edges(&self) -> Vec<(&Address, &Address, &str)> {
        let mut edges: Vec<_> = self
            .graph
            .edge_indices()
            .filter_map(|e| {
                let (from, to) = self.graph.edge_endpoints(e)?;
                Some((&self.graph[from], &self.graph[to], self.graph[e].as_str()))
            })
            .collect();
        edges.sort();
        edges
    }
}

/// A DOT identifier: always quoted, with `"` and `\` escaped.
fn dot_id(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{VariableInputs, load_sources};
    use std::path::Path;

    const CONFIG: &str = r#"
vcenter "vc" { url = "https://vc/sdk" }
vault "v" {
  subscription_id = "s"
  resource_group  = "rg"
  name            = "vault"
}
configuration_server "cs" {
  vault   = vault.v
  fabric  = "cs01"
  vcenter = vcenter.vc
}
process_server "ps" {
  configuration_server = configuration_server.cs
  name                 = "ps-azure-01"
  location             = "azure"
}
master_target "mt" {
  configuration_server = configuration_server.cs
  vm                   = "mt-lnx-01"
  os                   = "linux"
}
reprotect "app" {
  for_each         = toset(["a", "b"])
  protected_item   = "${each.key}-item"
  process_server   = process_server.ps
  master_target    = master_target.mt
  datastore        = "vmfs-gold-01"
  retention_volume = master_target.mt.retention_volume
}
recovery_plan "rp" {
  name    = "plan"
  members = [reprotect.app["a"], reprotect.app["b"]]
}
"#;

    fn graph() -> Graph {
        let text = CONFIG.replace("toset([\"a\", \"b\"])", "[\"a\", \"b\"]");
        let loaded = load_sources(
            Path::new("."),
            vec![("main.hcl".into(), text)],
            &VariableInputs::default(),
        );
        assert!(!loaded.diagnostics.has_errors(), "{}", loaded.diagnostics);
        Graph::build(&loaded.config)
    }

    #[test]
    fn implicit_and_reference_edges() {
        let graph = graph();
        let app_a = Address::new("reprotect", "app").with_key("a");
        let deps: Vec<String> = graph
            .dependencies(&app_a)
            .iter()
            .map(|a| a.to_string())
            .collect();
        assert_eq!(
            deps,
            [
                "configuration_server.cs",
                "master_target.mt",
                "process_server.ps"
            ]
        );
        let plan_deps: Vec<String> = graph
            .dependencies(&Address::new("recovery_plan", "rp"))
            .iter()
            .map(|a| a.to_string())
            .collect();
        assert_eq!(plan_deps, ["reprotect.app[\"a\"]", "reprotect.app[\"b\"]"]);
    }

    #[test]
    fn apply_order_puts_dependencies_first() {
        let graph = graph();
        let order: Vec<String> = graph.apply_order().iter().map(|a| a.to_string()).collect();
        let position = |name: &str| order.iter().position(|a| a == name).unwrap();
        assert!(position("vault.v") < position("configuration_server.cs"));
        assert!(position("master_target.mt") < position("reprotect.app[\"a\"]"));
        assert!(position("reprotect.app[\"b\"]") < position("recovery_plan.rp"));
        assert_eq!(order.len(), 8);
    }

    #[test]
    fn dot_quotes_instance_keys() {
        let dot = graph().to_dot();
        assert!(
            dot.contains("\"reprotect.app[\\\"a\\\"]\" -> \"recovery_plan.rp\""),
            "{dot}"
        );
    }
}
