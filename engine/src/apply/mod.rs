//! Executing a plan: a scheduler that runs the plan's actions in dependency order
//! through providers, with bounded parallelism, and records every outcome in state.
//!
//! It must not decide *what* to do (that is `plan`), only *when*: [`scheduler`] knows
//! jobs, their dependencies and units, and nothing of providers or plans.

pub mod executor;
pub mod scheduler;
