//! The failback configuration language: loading `*.hcl` files, evaluating
//! expressions, and mapping blocks to typed structs that keep their source spans.

pub mod model;

pub use model::*;
