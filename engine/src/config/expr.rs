//! Static analysis of hcl-edit expressions before evaluation: which names an
//! expression refers to (`var.x`, `local.y`, `master_target.mt.vm`, `each.key`), which
//! functions it calls, and where inside it an hcl-rs evaluation error happened.
//!
//! Reference collection tracks the scopes of `for` expressions, so `[for vm in vms :
//! vm.name]` does not count `vm` as a reference.

use std::ops::Range;

use hcl_edit::Span as _;
use hcl_edit::expr::{Expression, ForExpr, FuncCall, Traversal, TraversalOperator};
use hcl_edit::visit::{self, Visit};

/// One step after the root of a traversal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// `.name`
    Attr(String),
    /// `["key"]` with a literal string key.
    Key(String),
    /// `[expression]` or `[0]`: an index only known after evaluation.
    Dynamic,
    /// A splat.
    Splat,
}

/// A name used by an expression, with the steps applied to it.
#[derive(Debug, Clone)]
pub struct RawRef {
    pub root: String,
    pub steps: Vec<Step>,
    /// The whole traversal (or the bare name).
    pub span: Range<usize>,
}

/// A function call found in an expression.
#[derive(Debug, Clone)]
pub struct RawCall {
    pub name: String,
    pub args: usize,
    /// `f(list...)`: the argument count is only known after evaluation.
    pub expands: bool,
    pub span: Range<usize>,
    pub name_span: Range<usize>,
}

/// Everything an expression uses.
#[derive(Debug, Default)]
pub struct Uses {
    pub refs: Vec<RawRef>,
    pub calls: Vec<RawCall>,
}

/// Collects what `expr` refers to and calls.
pub fn uses(expr: &Expression) -> Uses {
    let mut collector = Collector::default();
    collector.visit_expr(expr);
    collector.uses
}

#[derive(Default)]
struct Collector {
    uses: Uses,
    /// Names bound by enclosing `for` expressions.
    scopes: Vec<String>,
}

impl Collector {
    fn bound(&self, name: &str) -> bool {
        self.scopes.iter().any(|s| s == name)
    }
}

impl Visit for Collector {
    fn visit_expr(&mut self, node: &Expression) {
        match node {
            Expression::Variable(name) => {
                if !self.bound(name.as_str()) {
                    self.uses.refs.push(RawRef {
                        root: name.as_str().to_owned(),
                        steps: Vec::new(),
                        span: node.span().unwrap_or(0..0),
                    });
                }
            }
            _ => visit::visit_expr(self, node),
        }
    }

    fn visit_traversal(&mut self, node: &Traversal) {
        if let Expression::Variable(root) = &node.expr {
            if !self.bound(root.as_str()) {
                let steps = node
                    .operators
                    .iter()
                    .map(|op| match op.value() {
                        TraversalOperator::GetAttr(ident) => Step::Attr(ident.as_str().to_owned()),
                        TraversalOperator::Index(Expression::String(key)) => {
                            Step::Key(key.as_str().to_owned())
                        }
                        TraversalOperator::Index(_) | TraversalOperator::LegacyIndex(_) => {
                            Step::Dynamic
                        }
                        TraversalOperator::AttrSplat(_) | TraversalOperator::FullSplat(_) => {
                            Step::Splat
                        }
                    })
                    .collect();
                self.uses.refs.push(RawRef {
                    root: root.as_str().to_owned(),
                    steps,
                    span: node.span().unwrap_or(0..0),
                });
            }
            for op in &node.operators {
                self.visit_traversal_operator(op);
            }
        } else {
            visit::visit_traversal(self, node);
        }
    }

    fn visit_func_call(&mut self, node: &FuncCall) {
        let name_span = node.name.name.span().unwrap_or(0..0);
        self.uses.calls.push(RawCall {
            name: node.name.name.as_str().to_owned(),
            args: node.args.len(),
            expands: node.args.expand_final(),
            span: node.span().unwrap_or(name_span.clone()),
            name_span,
        });
        visit::visit_func_args(self, &node.args);
    }

    fn visit_for_expr(&mut self, node: &ForExpr) {
        self.visit_expr(&node.intro.collection_expr);
        let depth = self.scopes.len();
        if let Some(key) = &node.intro.key_var {
            self.scopes.push(key.as_str().to_owned());
        }
        self.scopes.push(node.intro.value_var.as_str().to_owned());
        if let Some(key_expr) = &node.key_expr {
            self.visit_expr(key_expr);
        }
        self.visit_expr(&node.value_expr);
        if let Some(cond) = &node.cond {
            self.visit_expr(&cond.expr);
        }
        self.scopes.truncate(depth);
    }
}

/// The span of the innermost sub-expression of `expr` that converts to `failing`
/// (the expression an hcl-rs error names), so that the label sits on the part that
/// failed rather than on the whole attribute.
pub fn locate(expr: &Expression, failing: &hcl::Expression) -> Option<Range<usize>> {
    struct Locator<'a> {
        failing: &'a hcl::Expression,
        found: Option<Range<usize>>,
    }
    impl Visit for Locator<'_> {
        fn visit_expr(&mut self, node: &Expression) {
            if let Some(span) = node.span() {
                let converted: hcl::Expression = node.clone().into();
                if &converted == self.failing {
                    let narrower = self
                        .found
                        .as_ref()
                        .is_none_or(|found| span.len() <= found.len());
                    if narrower {
                        self.found = Some(span);
                    }
                }
            }
            visit::visit_expr(self, node);
        }
    }
    let mut locator = Locator {
        failing,
        found: None,
    };
    locator.visit_expr(expr);
    locator.found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Expression {
        hcl_edit::parser::parse_expr(text).unwrap()
    }

    #[test]
    fn collects_references_with_their_steps() {
        let found = uses(&parse(
            "\"${master_target.mt.vm}-${var.suffix}\" == reprotect.app[\"db01\"].vm",
        ));
        let roots: Vec<_> = found
            .refs
            .iter()
            .map(|r| (r.root.as_str(), r.steps.clone()))
            .collect();
        assert_eq!(
            roots,
            vec![
                (
                    "master_target",
                    vec![Step::Attr("mt".into()), Step::Attr("vm".into())]
                ),
                ("var", vec![Step::Attr("suffix".into())]),
                (
                    "reprotect",
                    vec![
                        Step::Attr("app".into()),
                        Step::Key("db01".into()),
                        Step::Attr("vm".into())
                    ]
                ),
            ]
        );
    }

    #[test]
    fn for_expression_variables_are_not_references() {
        let found = uses(&parse(
            "[for k, vm in var.vms : upper(vm.name) if k != local.x]",
        ));
        let roots: Vec<_> = found.refs.iter().map(|r| r.root.as_str()).collect();
        assert_eq!(roots, vec!["var", "local"]);
        assert_eq!(found.calls.len(), 1);
        assert_eq!(found.calls[0].name, "upper");
        assert_eq!(found.calls[0].args, 1);
    }

    #[test]
    fn index_expressions_inside_traversals_are_collected() {
        let found = uses(&parse("reprotect.app[each.key]"));
        let roots: Vec<_> = found.refs.iter().map(|r| r.root.as_str()).collect();
        assert_eq!(roots, vec!["reprotect", "each"]);
        assert_eq!(found.refs[0].steps[1], Step::Dynamic);
    }
}
