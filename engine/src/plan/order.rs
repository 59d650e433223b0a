//! Ordering: the plan's actions as a petgraph DAG, recovery-plan units, and one
//! deterministic topological order.
//!
//! Edges are prerequisites: a VMware fix before the reprotects that need it, a
//! wait-for-agent before its reprotect. A unit's reprotects start together, so each
//! member's reprotect waits for the prerequisites of every member. Reprotects that
//! share nothing have no edge between them and may run in parallel. Ties are broken
//! by (fixes, then waits, then reprotects; address; kind), so the same inputs always
//! give the same order.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap};

use foldhash::{HashMap, HashMapExt as _};

use petgraph::Direction;
use petgraph::graph::{DiGraph, NodeIndex};

use crate::config::{Address, Config};

use super::model::{PlannedAction, ReprotectUnit, kinds};

pub(super) struct Ordered {
    pub actions: Vec<PlannedAction>,
    pub units: Vec<ReprotectUnit>,
}

fn phase(action: &PlannedAction) -> u8 {
    match action.kind.as_str() {
        kinds::REPROTECT => 2,
        kinds::WAIT_FOR_AGENT => 1,
        _ => 0,
    }
}

pub(super) fn order(config: &Config, mut actions: Vec<PlannedAction>) -> Ordered {
    let units = assign_units(config, &mut actions);
    add_unit_edges(&units, &mut actions);

    let mut graph: DiGraph<usize, ()> = DiGraph::with_capacity(actions.len(), actions.len());
    let nodes: Vec<NodeIndex> = (0..actions.len()).map(|i| graph.add_node(i)).collect();
    let by_id: HashMap<&str, usize> = actions
        .iter()
        .enumerate()
        .map(|(i, action)| (action.id.as_str(), i))
        .collect();
    for (i, action) in actions.iter().enumerate() {
        // `add_edge`, not `update_edge`: the latter scans the source's edges, which
        // is quadratic for a master target fix that thousands of reprotects wait for.
        let dependencies: BTreeSet<usize> = action
            .depends_on
            .iter()
            .filter_map(|dependency| by_id.get(dependency.as_str()).copied())
            .collect();
        for j in dependencies {
            graph.add_edge(nodes[j], nodes[i], ());
        }
    }

    // Kahn's algorithm with a priority queue, for an order that does not depend on
    // insertion order. Each action's place in the tie-break order (fixes, then waits,
    // then reprotects; address; kind; index) is computed once, so the queue holds
    // plain numbers instead of cloned addresses.
    let mut tie_break: Vec<usize> = (0..actions.len()).collect();
    tie_break.sort_by(|&a, &b| {
        let (x, y) = (&actions[a], &actions[b]);
        (phase(x), &x.address, &x.kind, a).cmp(&(phase(y), &y.address, &y.kind, b))
    });
    let mut rank = vec![0; actions.len()];
    for (place, &i) in tie_break.iter().enumerate() {
        rank[i] = place;
    }
    let mut indegree: Vec<usize> = nodes
        .iter()
        .map(|&n| graph.neighbors_directed(n, Direction::Incoming).count())
        .collect();
    let mut ready: BinaryHeap<Reverse<(usize, usize)>> = indegree
        .iter()
        .enumerate()
        .filter(|(_, degree)| **degree == 0)
        .map(|(i, _)| Reverse((rank[i], i)))
        .collect();
    let mut sequence = Vec::with_capacity(actions.len());
    while let Some(Reverse((_, i))) = ready.pop() {
        sequence.push(i);
        for next in graph.neighbors_directed(nodes[i], Direction::Outgoing) {
            let j = graph[next];
            indegree[j] -= 1;
            if indegree[j] == 0 {
                ready.push(Reverse((rank[j], j)));
            }
        }
    }
    // Edges only run fix → wait → reprotect, so a cycle cannot form; should one ever,
    // the rest keeps its sorted order rather than being dropped.
    if sequence.len() < actions.len() {
        let placed: BTreeSet<usize> = sequence.iter().copied().collect();
        let mut rest: Vec<usize> = (0..actions.len()).filter(|i| !placed.contains(i)).collect();
        rest.sort_by_key(|&i| rank[i]);
        sequence.extend(rest);
    }

    let position: HashMap<String, usize> = sequence
        .iter()
        .enumerate()
        .map(|(pos, &i)| (actions[i].id.clone(), pos))
        .collect();
    let mut slots: Vec<Option<PlannedAction>> = actions.into_iter().map(Some).collect();
    let mut ordered: Vec<PlannedAction> =
        sequence.iter().filter_map(|&i| slots[i].take()).collect();
    for action in &mut ordered {
        action
            .depends_on
            .sort_by_key(|id| position.get(id).copied());
        action.depends_on.dedup();
    }
    let mut units = units;
    for unit in &mut units {
        unit.actions.sort_by_key(|id| position.get(id).copied());
    }
    Ordered {
        actions: ordered,
        units,
    }
}

/// One unit per declared recovery plan; marks its members' actions with the unit id.
fn assign_units(config: &Config, actions: &mut [PlannedAction]) -> Vec<ReprotectUnit> {
    let mut plans: Vec<_> = config.recovery_plans.iter().collect();
    plans.sort_by(|a, b| a.address.cmp(&b.address));
    let mut by_address: HashMap<Address, Vec<usize>> = HashMap::new();
    for (i, action) in actions.iter().enumerate() {
        by_address
            .entry(action.address.clone())
            .or_default()
            .push(i);
    }
    let mut units = Vec::new();
    for plan in plans {
        let id = plan.address.to_string();
        let members: Vec<Address> = plan.members.iter().map(|m| m.target.clone()).collect();
        let mut unit_actions = Vec::new();
        // A member's own actions belong to the unit; a master target fix may serve
        // several units and stays outside.
        for member in &members {
            for &i in by_address
                .get(member)
                .map(Vec::as_slice)
                .unwrap_or_default()
            {
                let action = &mut actions[i];
                if action.unit.is_none() {
                    action.unit = Some(id.clone());
                    unit_actions.push(action.id.clone());
                }
            }
        }
        units.push(ReprotectUnit {
            id,
            address: plan.address.clone(),
            plan_name: plan.plan_name.clone(),
            members,
            actions: unit_actions,
            unchanged_members: Vec::new(),
        });
    }
    units
}

/// Every member reprotect of a unit waits for the prerequisites of all members.
fn add_unit_edges(units: &[ReprotectUnit], actions: &mut [PlannedAction]) {
    let by_id: HashMap<&str, usize> = actions
        .iter()
        .enumerate()
        .map(|(i, action)| (action.id.as_str(), i))
        .collect();
    let member_reprotects_of: Vec<Vec<usize>> = units
        .iter()
        .map(|unit| {
            unit.actions
                .iter()
                .filter_map(|id| by_id.get(id.as_str()).copied())
                .filter(|&i| actions[i].kind == kinds::REPROTECT)
                .collect()
        })
        .collect();
    for member_reprotects in member_reprotects_of {
        let shared: BTreeSet<String> = member_reprotects
            .iter()
            .flat_map(|&i| actions[i].depends_on.iter().cloned())
            .collect();
        for &i in &member_reprotects {
            for dependency in &shared {
                if !actions[i].depends_on.contains(dependency) {
                    actions[i].depends_on.push(dependency.clone());
                }
            }
        }
    }
}
