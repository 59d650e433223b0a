//! The dependency graph of everything a configuration declares: a petgraph DAG whose
//! edges come from references between blocks and from the implicit dependencies of
//! the domain (a reprotect depends on its master target, process server,
//! configuration server and policy; a recovery plan on its members).
