//! Plans as plain data: ordered actions with their dependencies, findings, and the
//! digests of what the plan was made from. No I/O lives here.
