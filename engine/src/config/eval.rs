//! Loading, second half: evaluate every declaration in dependency order with hcl-rs's
//! evaluation context, expand `for_each`, track which values are sensitive, and hand
//! each block's values to [`super::decode`] for the typed model.
//!
//! A declaration whose inputs failed is skipped silently: its cause was reported once,
//! and repeating it for every dependent would bury it.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use hcl::Value;
use hcl::eval::{Context, ErrorKind, Evaluate};

use super::decode::{self, Decoded, Evaluated, Fields};
use super::diagnostic::{Diagnostic, Diagnostics};
use super::expr::{self, Step};
use super::functions;
use super::load::{Attr, Node, NodeKind, Target};
use super::model::{Address, Config, Declared, Output, Reference};
use super::schema::AttrType;
use super::variables::{VarType, describe_value};

/// The key under which a block's context object carries its address, so that a
/// reference attribute (`master_target = master_target.mt`) can tell which block it
/// was given.
pub(super) const ADDRESS_KEY: &str = "__address";

/// A variable's value from outside the configuration, and where it came from.
pub(super) struct InputValue {
    pub value: Value,
    pub source: String,
}

pub(super) struct Evaluator<'n, 'a> {
    nodes: &'n [Node<'a>],
    inputs: HashMap<String, InputValue>,
    ctx: Context<'static>,
    vars: hcl::Map<String, Value>,
    locals: hcl::Map<String, Value>,
    objects: HashMap<&'static str, hcl::Map<String, Value>>,
    dirty: HashSet<&'static str>,
    /// `each` of the instance being evaluated (also declared in `ctx`).
    each: Option<Value>,
    /// Node keys (`variable.x`, `local.y`) and block attributes (`vcenter.vc.password`)
    /// whose values are sensitive; a block key alone means "some attribute of it".
    sensitive: HashSet<String>,
    failed: Vec<bool>,
    /// Per node: the blocks it refers to, directly or through locals.
    object_refs: Vec<Vec<Reference>>,
    pub config: Config,
    pub diagnostics: &'n mut Diagnostics,
}

impl<'n, 'a> Evaluator<'n, 'a> {
    pub fn new(
        nodes: &'n [Node<'a>],
        inputs: HashMap<String, InputValue>,
        diagnostics: &'n mut Diagnostics,
    ) -> Self {
        let mut ctx = Context::new();
        functions::declare_all(&mut ctx);
        Evaluator {
            nodes,
            inputs,
            ctx,
            vars: hcl::Map::new(),
            locals: hcl::Map::new(),
            objects: HashMap::new(),
            dirty: HashSet::new(),
            each: None,
            sensitive: HashSet::new(),
            failed: nodes.iter().map(|n| n.broken).collect(),
            object_refs: vec![Vec::new(); nodes.len()],
            config: Config::default(),
            diagnostics,
        }
    }

    /// Marks nodes that cannot be evaluated (part of a cycle).
    pub fn mark_failed(&mut self, node: usize) {
        self.failed[node] = true;
    }

    pub fn evaluate(&mut self, order: &[usize]) {
        for &index in order {
            let node = &self.nodes[index];
            if self.failed[index] || node.deps.iter().any(|&d| self.failed[d]) {
                self.failed[index] = true;
                continue;
            }
            self.collect_object_refs(index);
            let ok = match node.kind {
                NodeKind::Variable => self.variable(node),
                NodeKind::Local => self.local(node),
                NodeKind::Output => self.output(index),
                NodeKind::Settings => self.settings(index),
                NodeKind::Object => self.object(index),
            };
            if !ok {
                self.failed[index] = true;
            }
        }
    }

    fn root_of(&self, node: usize) -> &'static str {
        let node = &self.nodes[node];
        match node.kind {
            NodeKind::Variable => "var",
            NodeKind::Local => "local",
            _ => node.spec.kind,
        }
    }

    /// Addresses of the blocks a node refers to, through locals too: the edges of
    /// the graph beyond the typed references.
    fn collect_object_refs(&mut self, index: usize) {
        let node = &self.nodes[index];
        let mut found: Vec<Reference> = Vec::new();
        let attrs = node
            .attrs
            .iter()
            .chain(node.nested.iter().flat_map(|n| n.attrs.iter()));
        for attr in attrs {
            for (target, span) in &attr.refs {
                let Target::Node {
                    node: target,
                    steps,
                } = target
                else {
                    continue;
                };
                let target_node = &self.nodes[*target];
                match target_node.kind {
                    NodeKind::Object => {
                        let mut address = Address::new(target_node.spec.kind, &target_node.name);
                        if let Some(Step::Key(key)) = steps.first() {
                            address = address.with_key(key);
                        }
                        found.push(Reference {
                            target: address,
                            span: span.clone(),
                        });
                    }
                    NodeKind::Local => {
                        for inherited in &self.object_refs[*target] {
                            found.push(Reference {
                                target: inherited.target.clone(),
                                span: span.clone(),
                            });
                        }
                    }
                    _ => {}
                }
            }
        }
        self.object_refs[index] = found;
    }

    fn refresh(&mut self, attr: &Attr<'_>) {
        for (target, _) in &attr.refs {
            if let Target::Node { node, .. } = target {
                let root = self.root_of(*node);
                if self.dirty.remove(root) {
                    let value = match root {
                        "var" => Value::Object(self.vars.clone()),
                        "local" => Value::Object(self.locals.clone()),
                        kind => Value::Object(self.objects.get(kind).cloned().unwrap_or_default()),
                    };
                    self.ctx.declare_var(root, value);
                }
            }
        }
    }

    fn ref_is_sensitive(&self, target: &Target) -> bool {
        let Target::Node { node, steps } = target else {
            return false;
        };
        let node = &self.nodes[*node];
        if node.kind != NodeKind::Object {
            return self.sensitive.contains(&node.key);
        }
        // `steps` start after the block name: an optional instance key, then the
        // attribute.
        let attribute = steps.iter().find_map(|s| match s {
            Step::Attr(a) => Some(a.as_str()),
            _ => None,
        });
        match attribute {
            Some(attribute) => {
                node.spec.attr(attribute).is_some_and(|a| a.sensitive)
                    || self
                        .sensitive
                        .contains(&format!("{}.{attribute}", node.key))
            }
            None => self.sensitive.contains(&node.key),
        }
    }

    fn attr_is_sensitive(&self, attr: &Attr<'_>) -> bool {
        attr.refs.iter().any(|(t, _)| self.ref_is_sensitive(t))
    }

    /// Evaluates one attribute; `None` when it failed (and was reported) or cannot be
    /// evaluated because something it uses failed.
    fn eval_attr(&mut self, attr: &Attr<'_>) -> Option<(Value, bool)> {
        if attr.broken {
            return None;
        }
        let uses_failed = attr.refs.iter().any(|(t, _)| match t {
            Target::Node { node, .. } => self.failed[*node],
            _ => false,
        });
        if uses_failed {
            return None;
        }
        self.refresh(attr);
        let sensitive = self.attr_is_sensitive(attr);
        if let Some(value) = self.plain_traversal(&attr.expr) {
            return Some((value, sensitive));
        }
        match attr.expr.evaluate(&self.ctx) {
            Ok(value) => Some((value, sensitive)),
            Err(error) => {
                let d = self.eval_error(attr, &error, sensitive);
                self.diagnostics.push(d);
                None
            }
        }
    }

    /// A plain traversal (`each.value.os`, `master_target.mt`, `var.x["k"]`) read
    /// straight from the evaluator's own values. hcl-rs clones the whole root object
    /// (every block of a kind) before walking it, which dominates evaluation of large
    /// `for_each` blocks. Anything else, and any miss, goes to hcl-rs, which also
    /// produces the error.
    fn plain_traversal(&self, expr: &hcl::Expression) -> Option<Value> {
        use hcl::expr::TraversalOperator;
        let hcl::Expression::Traversal(traversal) = expr else {
            return None;
        };
        let hcl::Expression::Variable(root) = &traversal.expr else {
            return None;
        };
        let mut operators = traversal.operators.iter();
        let mut current: &Value = match root.as_str() {
            "each" => self.each.as_ref()?,
            "var" | "local" => {
                let map = if root.as_str() == "var" {
                    &self.vars
                } else {
                    &self.locals
                };
                match operators.next()? {
                    TraversalOperator::GetAttr(name) => map.get(name.as_str())?,
                    _ => return None,
                }
            }
            kind => {
                let map = self.objects.get(kind)?;
                match operators.next()? {
                    TraversalOperator::GetAttr(name) => map.get(name.as_str())?,
                    _ => return None,
                }
            }
        };
        for operator in operators {
            current = match (operator, current) {
                (TraversalOperator::GetAttr(name), Value::Object(map)) => map.get(name.as_str())?,
                (TraversalOperator::Index(hcl::Expression::String(key)), Value::Object(map)) => {
                    map.get(key.as_str())?
                }
                _ => return None,
            };
        }
        Some(current.clone())
    }

    fn eval_error(&self, attr: &Attr<'_>, error: &hcl::eval::Error, sensitive: bool) -> Diagnostic {
        let span = error
            .expr()
            .and_then(|failing| expr::locate(&attr.syntax.value, failing))
            .map(|range| {
                let file = self.diagnostics.sources.get(&attr.value_span.file);
                file.map_or(attr.value_span.clone(), |f| f.span(range))
            })
            .unwrap_or_else(|| attr.value_span.clone());
        let (code, message, help) = match error.kind() {
            _ if sensitive => (
                "config::evaluation",
                format!("`{}` could not be evaluated (details hidden: it uses a sensitive value)", attr.name),
                "check the types of the values this expression combines".to_owned(),
            ),
            ErrorKind::NoSuchKey(key) => (
                "config::no_such_key",
                format!("there is no key `{key}` here"),
                "check the key against the map it indexes (for_each keys, variable maps)".to_owned(),
            ),
            ErrorKind::Index(index) => (
                "config::no_such_key",
                format!("index {index} is out of range"),
                "lists are indexed from 0".to_owned(),
            ),
            ErrorKind::Unexpected(value, expected) => (
                "config::wrong_type",
                format!("expected {expected}, got {}", describe_value(value)),
                "check the type of the value used here".to_owned(),
            ),
            ErrorKind::BinaryOp(left, op, right) => (
                "config::wrong_type",
                format!(
                    "`{}` cannot combine {} and {}",
                    op.as_str(),
                    describe_value(left),
                    describe_value(right)
                ),
                "both sides must have matching types; convert with format() or compare like with like".to_owned(),
            ),
            ErrorKind::UnaryOp(op, value) => (
                "config::wrong_type",
                format!("`{}` cannot be applied to {}", op.as_str(), describe_value(value)),
                "`!` takes a bool and `-` a number".to_owned(),
            ),
            ErrorKind::FuncCall(name, message) => (
                "config::function_error",
                format!("`{name}` failed: {message}"),
                "see docs/language.md#functions".to_owned(),
            ),
            other => (
                "config::evaluation",
                format!("cannot evaluate `{}`: {other}", attr.name),
                "see docs/language.md#expressions".to_owned(),
            ),
        };
        Diagnostic::error(code, message).at(span, "here").help(help)
    }

    fn variable(&mut self, node: &Node<'_>) -> bool {
        let name = node.name.clone();
        let sensitive = match node.attr("sensitive") {
            Some(attr) => match self.eval_attr(attr) {
                Some((Value::Bool(b), _)) => b,
                Some((other, _)) => {
                    self.diagnostics.push(
                        Diagnostic::error(
                            "config::wrong_type",
                            format!("`sensitive` must be a bool, got {}", describe_value(&other)),
                        )
                        .at(attr.value_span.clone(), "not true or false")
                        .help("write `sensitive = true`"),
                    );
                    false
                }
                None => false,
            },
            None => false,
        };
        if sensitive {
            self.sensitive.insert(node.key.clone());
        }
        let (value, source, span) = match self.inputs.remove(&name) {
            Some(input) => (input.value, input.source, node.header.clone()),
            None => match node.attr("default") {
                Some(attr) => match self.eval_attr(attr) {
                    Some((value, _)) => (value, "its default".to_owned(), attr.value_span.clone()),
                    None => return false,
                },
                None => {
                    self.diagnostics.push(
                        Diagnostic::error(
                            "config::missing_variable",
                            format!("no value for the required variable `{name}`"),
                        )
                        .at(node.header.clone(), "declared here without a default")
                        .help(format!(
                            "give it a value with -var {name}=..., a -var-file, or FAILBACK_VAR_{name}; or add a default"
                        )),
                    );
                    return false;
                }
            },
        };
        let value = match node.var_type.convert(value) {
            Ok(value) => value,
            Err(message) => {
                self.diagnostics.push(
                    Diagnostic::error(
                        "config::invalid_variable_value",
                        format!("the value of variable `{name}` (from {source}) does not match its type: {message}"),
                    )
                    .at(span, "does not match the type")
                    .help("give a value of the declared `type`"),
                );
                return false;
            }
        };
        self.vars.insert(name.clone(), value);
        let mut ok = true;
        for validation in node.nested.iter().filter(|n| n.kind == "validation") {
            let Some(condition) = validation.attrs.iter().find(|a| a.name == "condition") else {
                continue;
            };
            self.ctx
                .declare_var("var", Value::Object(self.vars.clone()));
            self.dirty.insert("var");
            let passed = match condition.expr.evaluate(&self.ctx) {
                Ok(Value::Bool(passed)) => passed,
                Ok(other) => {
                    self.diagnostics.push(
                        Diagnostic::error(
                            "config::wrong_type",
                            format!(
                                "a validation condition must be a bool, got {}",
                                describe_value(&other)
                            ),
                        )
                        .at(condition.value_span.clone(), "not a bool")
                        .help("write a comparison, e.g. `length(var.x) > 0`"),
                    );
                    ok = false;
                    continue;
                }
                Err(error) => {
                    let d = self.eval_error(condition, &error, sensitive);
                    self.diagnostics.push(d);
                    ok = false;
                    continue;
                }
            };
            if !passed {
                let error_message = validation.attrs.iter().find(|a| a.name == "error_message");
                let shows_secret = sensitive
                    && error_message
                        .is_some_and(|a| a.refs.iter().any(|(t, _)| *t == Target::SelfVar));
                let message = error_message
                    .filter(|_| !shows_secret)
                    .and_then(|a| self.eval_attr(a))
                    .and_then(|(v, _)| v.as_str().map(str::to_owned))
                    .unwrap_or_else(|| format!("invalid value for variable `{name}`"));
                self.diagnostics.push(
                    Diagnostic::error("config::variable_validation", message)
                        .at(condition.value_span.clone(), "this condition is false")
                        .help(format!("the value of `var.{name}` comes from {source}; change it to satisfy the condition")),
                );
                ok = false;
            }
        }
        if !ok {
            self.vars.swap_remove(&name);
        }
        self.dirty.insert("var");
        ok
    }

    fn local(&mut self, node: &Node<'_>) -> bool {
        let Some(attr) = node.attrs.first() else {
            return false;
        };
        let Some((value, sensitive)) = self.eval_attr(attr) else {
            return false;
        };
        if sensitive {
            self.sensitive.insert(node.key.clone());
        }
        self.locals.insert(node.name.clone(), value);
        self.dirty.insert("local");
        true
    }

    fn output(&mut self, index: usize) -> bool {
        let node = &self.nodes[index];
        let mut values = self.eval_all(node);
        let mut fields = Fields::new(
            node.spec,
            &mut values,
            self.diagnostics,
            node.header.clone(),
        );
        let description = fields.string("description");
        let declared_sensitive = fields.boolean("sensitive", false);
        let value = values
            .get("value")
            .and_then(|e| e.value.clone().map(|v| (v, e.sensitive, e.span.clone())));
        let Some((value, sensitive, span)) = value else {
            return false;
        };
        if sensitive && !declared_sensitive {
            self.diagnostics.push(
                Diagnostic::error(
                    "config::sensitive_output",
                    format!("output `{}` shows a sensitive value", node.name),
                )
                .at(span, "derived from a sensitive value")
                .help("add `sensitive = true` to the output so that its value is never printed"),
            );
            return false;
        }
        let shown = if sensitive || declared_sensitive {
            None
        } else {
            serde_json::to_value(strip_addresses(value)).ok()
        };
        self.config.outputs.push(Output {
            address: Address::new("output", &node.name),
            declared: self.declared(node, &values, index),
            description,
            sensitive: declared_sensitive,
            value: shown,
        });
        true
    }

    fn settings(&mut self, index: usize) -> bool {
        let node = &self.nodes[index];
        let mut values = self.eval_all(node);
        let state = node.nested.iter().find(|n| n.kind == "state").map(|state| {
            let mut state_values = BTreeMap::new();
            for attr in &state.attrs {
                let evaluated = self.evaluated(attr);
                state_values.insert(attr.name.clone(), evaluated);
            }
            (
                state.label.clone().unwrap_or_default(),
                state_values,
                state.header.clone(),
            )
        });
        let declared = self.declared(node, &values, index);
        match decode::settings(node.spec, &mut values, state, declared, self.diagnostics) {
            Some(settings) => {
                self.config.settings = settings;
                true
            }
            None => false,
        }
    }

    fn evaluated(&mut self, attr: &Attr<'_>) -> Evaluated {
        let result = self.eval_attr(attr);
        let element_spans = match &attr.syntax.value {
            hcl_edit::expr::Expression::Array(array) => {
                let file = self.diagnostics.sources.get(&attr.value_span.file).cloned();
                array
                    .iter()
                    .map(|element| {
                        let range = hcl_edit::Span::span(element);
                        match (&file, range) {
                            (Some(file), Some(range)) => file.span(range),
                            _ => attr.value_span.clone(),
                        }
                    })
                    .collect()
            }
            _ => Vec::new(),
        };
        Evaluated {
            sensitive: result.as_ref().is_some_and(|(_, s)| *s),
            value: result.map(|(v, _)| v),
            span: attr.value_span.clone(),
            attr_span: attr.span.clone(),
            element_spans,
        }
    }

    /// Evaluates every attribute of a block except `for_each`.
    fn eval_all(&mut self, node: &Node<'_>) -> BTreeMap<String, Evaluated> {
        let mut values = BTreeMap::new();
        for attr in node.attrs.iter().filter(|a| a.name != "for_each") {
            let mut evaluated = self.evaluated(attr);
            match node.spec.attr(&attr.name).map(|a| (a.sensitive, a.ty)) {
                Some((true, _)) => evaluated.sensitive = true,
                // A reference names a block; it carries none of that block's secrets.
                Some((_, AttrType::Ref(_) | AttrType::RefList(_))) => evaluated.sensitive = false,
                _ => {}
            }
            values.insert(attr.name.clone(), evaluated);
        }
        values
    }

    fn declared(
        &self,
        node: &Node<'_>,
        values: &BTreeMap<String, Evaluated>,
        index: usize,
    ) -> Declared {
        Declared {
            span: node.span.clone(),
            attribute_spans: values
                .iter()
                .map(|(name, e)| (name.clone(), e.attr_span.clone()))
                .collect(),
            depends_on: self.object_refs.get(index).cloned().unwrap_or_default(),
        }
    }

    fn object(&mut self, index: usize) -> bool {
        let node = &self.nodes[index];
        let kind = node.spec.kind;
        let instances: Option<Vec<(String, Value)>> = match node.attr("for_each") {
            None => None,
            Some(attr) => match self.for_each(attr) {
                Some(instances) => Some(instances),
                None => return false,
            },
        };
        let mut ok = true;
        let context_value = match instances {
            None => match self.instance(index, Address::new(kind, &node.name)) {
                Some(value) => value,
                None => return false,
            },
            Some(instances) => {
                let mut map = hcl::Map::with_capacity(instances.len());
                for (key, value) in instances {
                    let each = hcl::value!({ key = (key.clone()), value = (value) });
                    self.ctx.declare_var("each", each.clone());
                    self.each = Some(each);
                    let address = Address::new(kind, &node.name).with_key(&key);
                    match self.instance(index, address) {
                        Some(value) => {
                            map.insert(key, value);
                        }
                        None => ok = false,
                    }
                }
                Value::Object(map)
            }
        };
        self.objects
            .entry(kind)
            .or_default()
            .insert(node.name.clone(), context_value);
        self.dirty.insert(kind);
        ok
    }

    /// The instances of a `for_each`: map entries, or set elements (key = value).
    fn for_each(&mut self, attr: &Attr<'_>) -> Option<Vec<(String, Value)>> {
        let (value, sensitive) = self.eval_attr(attr)?;
        if sensitive {
            self.diagnostics.push(
                Diagnostic::error(
                    "config::sensitive_for_each",
                    "`for_each` cannot use a sensitive value",
                )
                .at(attr.value_span.clone(), "derived from a sensitive value")
                .help("instance keys appear in every address, plan and log; iterate over something that is not secret"),
            );
            return None;
        }
        let not_a_collection = |what: &str| {
            Diagnostic::error(
                "config::for_each_type",
                format!("`for_each` needs a map or a set of strings, got {what}"),
            )
            .at(attr.value_span.clone(), "not a map or set")
            .help("iterate over a map (`{ web01 = {...} }`) or a set of strings (`[\"web01\", \"web02\"]`)")
        };
        match value {
            Value::Object(map) => {
                let mut instances: Vec<(String, Value)> = map.into_iter().collect();
                instances.sort_by(|a, b| a.0.cmp(&b.0));
                Some(instances)
            }
            Value::Array(items) => {
                let mut keys = BTreeSet::new();
                for item in items {
                    match item {
                        Value::String(s) => {
                            keys.insert(s);
                        }
                        other => {
                            let d = not_a_collection(&format!(
                                "a list holding {}",
                                describe_value(&other)
                            ));
                            self.diagnostics.push(d);
                            return None;
                        }
                    }
                }
                Some(
                    keys.into_iter()
                        .map(|k| (k.clone(), Value::String(k)))
                        .collect(),
                )
            }
            other => {
                let d = not_a_collection(describe_value(&other));
                self.diagnostics.push(d);
                None
            }
        }
    }

    /// Evaluates and decodes one object (or one instance of it); returns its context
    /// object.
    fn instance(&mut self, index: usize, address: Address) -> Option<Value> {
        let node = &self.nodes[index];
        let mut values = self.eval_all(node);
        for (name, evaluated) in &values {
            if evaluated.sensitive {
                self.sensitive.insert(format!("{}.{name}", node.key));
                self.sensitive.insert(node.key.clone());
            }
        }
        let mut acknowledgements = Vec::new();
        for ack in node.nested.iter().filter(|n| n.kind == "acknowledge") {
            let reason = ack
                .attrs
                .iter()
                .find(|a| a.name == "reason")
                .map(|a| self.evaluated(a));
            acknowledgements.push((
                ack.label.clone().unwrap_or_default(),
                reason,
                ack.header.clone(),
            ));
        }
        let declared = self.declared(node, &values, index);
        let decoded = decode::object(
            node.spec,
            address.clone(),
            declared,
            &mut values,
            acknowledgements,
            self.diagnostics,
        )?;
        let mut object = hcl::Map::with_capacity(node.spec.attrs.len() + 1);
        for attr_spec in node.spec.attrs {
            let value = values
                .get_mut(attr_spec.name)
                .and_then(|e| e.value.take())
                .unwrap_or(Value::Null);
            // Like a Terraform resource attribute holding an ID, a reference keeps
            // only the address of what it names, not a copy of that block: objects
            // stay small however deep the chain of references.
            let value = match attr_spec.ty {
                AttrType::Ref(_) => address_only(value),
                AttrType::RefList(_) => match value {
                    Value::Array(items) => {
                        Value::Array(items.into_iter().map(address_only).collect())
                    }
                    other => other,
                },
                _ => value,
            };
            object.insert(attr_spec.name.to_owned(), value);
        }
        for (name, value) in decoded.defaults() {
            if object.get(name).is_none_or(Value::is_null) {
                object.insert(name.to_owned(), value);
            }
        }
        object.insert(ADDRESS_KEY.to_owned(), Value::from(address.to_string()));
        self.push(decoded);
        Some(Value::Object(object))
    }

    fn push(&mut self, decoded: Decoded) {
        let config = &mut self.config;
        match decoded {
            Decoded::Vcenter(v) => config.vcenters.push(v),
            Decoded::Vault(v) => config.vaults.push(v),
            Decoded::ConfigurationServer(v) => config.configuration_servers.push(v),
            Decoded::ProcessServer(v) => config.process_servers.push(v),
            Decoded::MasterTarget(v) => config.master_targets.push(v),
            Decoded::FailbackPolicy(v) => config.failback_policies.push(v),
            Decoded::Reprotect(v) => config.reprotects.push(v),
            Decoded::RecoveryPlan(v) => config.recovery_plans.push(v),
        }
    }
}

/// A block's context object reduced to its address key.
fn address_only(value: Value) -> Value {
    match value {
        Value::Object(mut map) => match map.swap_remove(ADDRESS_KEY) {
            Some(address) => {
                let mut only = hcl::Map::with_capacity(1);
                only.insert(ADDRESS_KEY.to_owned(), address);
                Value::Object(only)
            }
            None => Value::Object(map),
        },
        other => other,
    }
}

/// Block references inside an output's value are shown by address, not as the
/// internal object with its bookkeeping key.
fn strip_addresses(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(address)) = map.get(ADDRESS_KEY) {
                return Value::String(address.clone());
            }
            Value::Object(
                map.into_iter()
                    .map(|(k, v)| (k, strip_addresses(v)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.into_iter().map(strip_addresses).collect()),
        other => other,
    }
}

/// Converts a raw `-var` / environment text to a value according to the type.
pub(super) fn parse_input(ty: &VarType, raw: &str, ctx: &Context<'_>) -> Result<Value, String> {
    if ty.takes_raw_text() {
        return Ok(Value::from(raw));
    }
    let expr = hcl_edit::parser::parse_expr(raw)
        .map_err(|e| format!("not a valid HCL value: {}", e.message()))?;
    let expr: hcl::Expression = expr.into();
    expr.evaluate(ctx)
        .map_err(|e| format!("cannot evaluate it: {}", e.kind()))
}
