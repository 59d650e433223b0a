//! Loading, first half: read and parse every `*.hcl` file of a directory with
//! hcl-edit, check each block against the [schema](super::schema), and resolve every
//! name an expression uses to the declaration it means, building the dependency
//! edges that decide evaluation order.
//!
//! Evaluation itself is in [`super::eval`]; this module only looks at syntax.

use std::collections::{BTreeSet, HashMap};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hcl_edit::Span as _;
use hcl_edit::structure::{Attribute, Block, Body, Structure};

use super::diagnostic::{Diagnostic, Diagnostics, SourceFile};
use super::expr::{self, RawRef, Step};
use super::functions::FUNCTIONS;
use super::model::Span;
use super::schema::{self, AttrType, BlockSpec};
use super::variables::VarType;

/// What a declaration is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum NodeKind {
    Settings,
    Variable,
    Local,
    Output,
    Object,
}

/// What a resolved name points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Target {
    /// Another declaration (by index), with the steps written after its name.
    Node { node: usize, steps: Vec<Step> },
    /// `each.key` / `each.value`.
    Each,
    /// `var.<this variable>` inside its own validation.
    SelfVar,
}

/// One attribute of a block, converted for evaluation, with what it refers to.
pub(super) struct Attr<'a> {
    pub name: String,
    pub syntax: &'a Attribute,
    pub expr: hcl::Expression,
    /// The whole `name = value`.
    pub span: Span,
    pub value_span: Span,
    pub refs: Vec<(Target, Span)>,
    /// A name or function in it was already reported as wrong: do not evaluate.
    pub broken: bool,
}

/// A nested block (`acknowledge`, `state`, `validation`).
pub(super) struct Nested<'a> {
    pub kind: &'static str,
    pub label: Option<String>,
    pub header: Span,
    pub attrs: Vec<Attr<'a>>,
}

/// One declaration: a top-level block, or one local value.
pub(super) struct Node<'a> {
    /// `variable.x`, `local.y`, `reprotect.app`, `output.z`, `failback`.
    pub key: String,
    pub kind: NodeKind,
    pub spec: &'static BlockSpec,
    /// The block label (or local name).
    pub name: String,
    pub file: Arc<SourceFile>,
    pub span: Span,
    pub header: Span,
    pub attrs: Vec<Attr<'a>>,
    pub nested: Vec<Nested<'a>>,
    /// Declarations this one uses (evaluated before it).
    pub deps: BTreeSet<usize>,
    /// A variable's type constraint.
    pub var_type: VarType,
    /// Checks found it unusable (already reported): not evaluated.
    pub broken: bool,
}

impl Node<'_> {
    pub fn attr(&self, name: &str) -> Option<&Attr<'_>> {
        self.attrs.iter().find(|a| a.name == name)
    }
}

/// Reads every `*.hcl` file of `dir`, sorted by name.
pub(super) fn read_dir(dir: &Path, diagnostics: &mut Diagnostics) -> Vec<(PathBuf, String)> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            diagnostics.push(
                Diagnostic::error(
                    "config::no_directory",
                    format!(
                        "cannot read the configuration directory {}: {e}",
                        dir.display()
                    ),
                )
                .help("pass the directory that holds the *.hcl files with -C DIR"),
            );
            return Vec::new();
        }
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "hcl") && path.is_file())
        .collect();
    paths.sort();
    let mut files = Vec::new();
    for path in paths {
        let relative = path.strip_prefix(dir).unwrap_or(&path).to_path_buf();
        match std::fs::read_to_string(&path) {
            Ok(text) => files.push((relative, text)),
            Err(e) => diagnostics.push(
                Diagnostic::error(
                    "config::unreadable_file",
                    format!("cannot read {}: {e}", relative.display()),
                )
                .help("configuration files must be readable UTF-8 text"),
            ),
        }
    }
    if files.is_empty() && !diagnostics.has_errors() {
        diagnostics.push(
            Diagnostic::error(
                "config::no_files",
                format!("no *.hcl files in {}", dir.display()),
            )
            .help("run failback in the directory of your configuration, or pass it with -C DIR"),
        );
    }
    files
}

/// Parses each file; syntax errors become diagnostics and the file is left out.
pub(super) fn parse_files(
    files: Vec<(PathBuf, String)>,
    diagnostics: &mut Diagnostics,
) -> Vec<(Arc<SourceFile>, Body)> {
    let mut parsed = Vec::new();
    for (path, text) in files {
        let file = diagnostics.sources.insert(SourceFile::new(path, text));
        match hcl_edit::parser::parse_body(&file.text) {
            Ok(body) => parsed.push((file, body)),
            Err(e) => {
                let offset = e.location().offset().min(file.text.len());
                let end = file.text[offset..]
                    .chars()
                    .next()
                    .map_or(offset, |c| offset + c.len_utf8());
                // hcl-edit rejects a repeated attribute while parsing; say so plainly.
                let diagnostic = if e.message().contains("redefined attribute") {
                    Diagnostic::error(
                        "config::duplicate_attribute",
                        "an attribute is set more than once in this block",
                    )
                    .at(file.span(offset..end), "set again here")
                    .help("keep one of them")
                } else {
                    Diagnostic::error(
                        "config::syntax",
                        format!("HCL syntax error: {}", e.message()),
                    )
                    .at(file.span(offset..end), "here")
                    .help("fix the syntax; blocks are `type \"label\" { ... }`, attributes `name = value`")
                };
                diagnostics.push(diagnostic);
            }
        }
    }
    parsed
}

fn span_of(file: &SourceFile, range: Option<Range<usize>>) -> Span {
    file.span(range.unwrap_or(0..0))
}

/// From the block type to the end of its last label: where "missing attribute" and
/// similar block-level problems point.
fn header_span(file: &SourceFile, block: &Block) -> Span {
    let start = block.ident.span().map_or(0, |s| s.start);
    let end = block
        .labels
        .last()
        .and_then(|l| l.span())
        .or_else(|| block.ident.span())
        .map_or(start, |s| s.end);
    file.span(start..end)
}

fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Collects the declarations of every parsed file and checks them against the schema.
pub(super) fn declarations<'a>(
    bodies: &'a [(Arc<SourceFile>, Body)],
    diagnostics: &mut Diagnostics,
) -> Vec<Node<'a>> {
    let mut nodes: Vec<Node<'a>> = Vec::new();
    let mut by_key: HashMap<String, usize> = HashMap::new();
    for (file, body) in bodies {
        for structure in body.iter() {
            let block = match structure {
                Structure::Block(block) => block,
                Structure::Attribute(attribute) => {
                    diagnostics.push(
                        Diagnostic::error(
                            "config::unexpected_attribute",
                            format!(
                                "attribute `{}` outside of any block",
                                attribute.key.as_str()
                            ),
                        )
                        .at(span_of(file, attribute.span()), "not inside a block")
                        .help("top-level values belong in a `locals { ... }` block (or a `variable` block)"),
                    );
                    continue;
                }
            };
            let kind = block.ident.as_str();
            let Some(spec) = schema::top_level(kind) else {
                let known = schema::TOP_LEVEL_BLOCKS.iter().map(|b| b.kind);
                let mut d = Diagnostic::error(
                    "config::unknown_block",
                    format!("unknown block type `{kind}`"),
                )
                .at(span_of(file, block.ident.span()), "unknown block type");
                d = match schema::did_you_mean(kind, known) {
                    Some(close) => d.help(format!("did you mean `{close}`?")),
                    None => d.help(format!(
                        "the block types are: {}",
                        schema::TOP_LEVEL_BLOCKS
                            .iter()
                            .map(|b| b.kind)
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                };
                diagnostics.push(d);
                continue;
            };
            if !check_labels(file, block, spec, diagnostics) {
                continue;
            }
            if spec.kind == "locals" {
                for attribute in block.body.attributes() {
                    let name = attribute.key.as_str().to_owned();
                    let attr = convert_attr(file, attribute);
                    let node = Node {
                        key: format!("local.{name}"),
                        kind: NodeKind::Local,
                        spec,
                        name,
                        file: file.clone(),
                        span: attr.span.clone(),
                        header: span_of(file, attribute.key.span()),
                        attrs: vec![attr],
                        nested: Vec::new(),
                        deps: BTreeSet::new(),
                        var_type: VarType::Any,
                        broken: false,
                    };
                    add_node(&mut nodes, &mut by_key, node, diagnostics);
                }
                for nested in block.body.blocks() {
                    diagnostics.push(
                        Diagnostic::error(
                            "config::unknown_block",
                            format!(
                                "`locals` takes no nested blocks; found `{}`",
                                nested.ident.as_str()
                            ),
                        )
                        .at(span_of(file, nested.ident.span()), "not allowed here")
                        .help("write local values as attributes: `name = value`"),
                    );
                }
                continue;
            }
            let name = block
                .labels
                .first()
                .map(|l| l.as_str().to_owned())
                .unwrap_or_default();
            let (node_kind, key) = match spec.kind {
                "failback" => (NodeKind::Settings, "failback".to_owned()),
                "variable" => (NodeKind::Variable, format!("variable.{name}")),
                "output" => (NodeKind::Output, format!("output.{name}")),
                kind => (NodeKind::Object, format!("{kind}.{name}")),
            };
            let (attrs, nested) = check_body(file, block, spec, diagnostics);
            let mut node = Node {
                key,
                kind: node_kind,
                spec,
                name,
                file: file.clone(),
                span: span_of(file, block.span()),
                header: header_span(file, block),
                attrs,
                nested,
                deps: BTreeSet::new(),
                var_type: VarType::Any,
                broken: false,
            };
            if node_kind == NodeKind::Variable
                && let Some(ty) = node.attr("type")
            {
                match VarType::parse(&ty.syntax.value) {
                    Ok(parsed) => node.var_type = parsed,
                    Err(message) => {
                        diagnostics.push(
                                Diagnostic::error("config::invalid_type", message)
                                    .at(ty.value_span.clone(), "not a type")
                                    .help("write a type such as string, number, bool, list(string), map(object({ os = string }))"),
                            );
                        node.broken = true;
                    }
                }
            }
            add_node(&mut nodes, &mut by_key, node, diagnostics);
        }
    }
    nodes
}

fn add_node<'a>(
    nodes: &mut Vec<Node<'a>>,
    by_key: &mut HashMap<String, usize>,
    node: Node<'a>,
    diagnostics: &mut Diagnostics,
) {
    if let Some(&first) = by_key.get(&node.key) {
        let first = &nodes[first];
        let what = if node.kind == NodeKind::Settings {
            "`failback` block".to_owned()
        } else {
            format!("`{}`", node.key)
        };
        diagnostics.push(
            Diagnostic::error(
                "config::duplicate",
                format!("{what} is declared more than once"),
            )
            .at(node.header.clone(), "declared again here")
            .related(first.header.clone(), "first declared here")
            .help(format!(
                "names must be unique per block type; the first is at {}:{}:{}",
                first.header.file.display(),
                first.header.line,
                first.header.column
            )),
        );
        return;
    }
    by_key.insert(node.key.clone(), nodes.len());
    nodes.push(node);
}

/// Checks the number of labels and that names can be used in references.
fn check_labels(
    file: &SourceFile,
    block: &Block,
    spec: &BlockSpec,
    diagnostics: &mut Diagnostics,
) -> bool {
    let kind = spec.kind;
    if block.labels.len() != spec.labels.len() {
        let expected = match spec.labels {
            [] => format!("`{kind}` takes no label: {kind} {{ ... }}"),
            [label] => format!("`{kind}` takes one label, its {label}: {kind} \"NAME\" {{ ... }}"),
            _ => format!("`{kind}` takes {} labels", spec.labels.len()),
        };
        diagnostics.push(
            Diagnostic::error(
                "config::block_labels",
                format!(
                    "`{kind}` block has {} label(s), expected {}",
                    block.labels.len(),
                    spec.labels.len()
                ),
            )
            .at(header_span(file, block), "wrong number of labels")
            .help(expected),
        );
        return false;
    }
    if spec.kind != "acknowledge"
        && spec.kind != "state"
        && let Some(label) = block.labels.first()
        && !is_valid_name(label.as_str())
    {
        diagnostics.push(
                    Diagnostic::error(
                        "config::invalid_name",
                        format!("`{}` is not a valid name", label.as_str()),
                    )
                    .at(span_of(file, label.span()), "invalid name")
                    .help("names start with a letter or `_` and hold only letters, digits, `_` and `-`, so that references like `reprotect.NAME` can name them"),
                );
        return false;
    }
    true
}

pub(super) fn convert_attr<'a>(file: &SourceFile, attribute: &'a Attribute) -> Attr<'a> {
    Attr {
        name: attribute.key.as_str().to_owned(),
        syntax: attribute,
        expr: attribute.value.clone().into(),
        span: span_of(file, attribute.span()),
        value_span: span_of(file, attribute.value.span()),
        refs: Vec::new(),
        broken: false,
    }
}

/// Checks a block's attributes and nested blocks against its spec.
fn check_body<'a>(
    file: &SourceFile,
    block: &'a Block,
    spec: &'static BlockSpec,
    diagnostics: &mut Diagnostics,
) -> (Vec<Attr<'a>>, Vec<Nested<'a>>) {
    let attrs = check_attributes(file, block, spec, spec.attr_names(), diagnostics);
    let mut nested = Vec::new();
    let mut seen: HashMap<(String, Option<String>), Span> = HashMap::new();
    for inner in block.body.blocks() {
        let kind = inner.ident.as_str();
        let Some(inner_spec) = spec.block(kind) else {
            let mut d = Diagnostic::error(
                "config::unknown_block",
                format!("`{}` blocks take no `{kind}` block", spec.kind),
            )
            .at(span_of(file, inner.ident.span()), "unknown block");
            if spec.attr(kind).is_some() {
                d = d.help(format!("`{kind}` is an attribute: write `{kind} = ...`"));
            } else if let Some(close) =
                schema::did_you_mean(kind, spec.blocks.iter().map(|b| b.kind))
            {
                d = d.help(format!("did you mean `{close}`?"));
            } else if spec.blocks.is_empty() {
                d = d.help(format!("`{}` takes no nested blocks", spec.kind));
            } else {
                d = d.help(format!(
                    "`{}` takes these blocks: {}",
                    spec.kind,
                    spec.blocks
                        .iter()
                        .map(|b| b.kind)
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            diagnostics.push(d);
            continue;
        };
        if !check_labels(file, inner, inner_spec, diagnostics) {
            continue;
        }
        let label = inner.labels.first().map(|l| l.as_str().to_owned());
        let header = header_span(file, inner);
        let names: Vec<&'static str> = match (inner_spec.kind, label.as_deref()) {
            ("state", Some(backend)) => {
                match schema::STATE_BACKENDS
                    .iter()
                    .find(|(name, _, _)| *name == backend)
                {
                    Some((_, allowed, _)) => allowed.to_vec(),
                    None => {
                        let label_span = span_of(file, inner.labels.first().and_then(|l| l.span()));
                        diagnostics.push(
                            Diagnostic::error(
                                "config::unknown_state_backend",
                                format!("unknown state backend `{backend}`"),
                            )
                            .at(label_span, "unknown backend")
                            .help("the state backends are `local` and `azurerm`"),
                        );
                        continue;
                    }
                }
            }
            ("acknowledge", Some(rule)) if !schema::is_known_rule(rule) => {
                let label_span = span_of(file, inner.labels.first().and_then(|l| l.span()));
                diagnostics.push(
                    Diagnostic::error("config::unknown_rule", format!("`{rule}` is not a rule id"))
                        .at(label_span, "unknown rule")
                        .help("acknowledge a rule by its id, FB101 to FB130 (see docs/rules.md)"),
                );
                continue;
            }
            _ => inner_spec.attr_names(),
        };
        let dedup_key = (
            inner_spec.kind.to_owned(),
            if inner_spec.kind == "state" {
                None
            } else {
                label.clone()
            },
        );
        if inner_spec.kind != "validation" {
            if let Some(first) = seen.get(&dedup_key) {
                diagnostics.push(
                    Diagnostic::error(
                        "config::duplicate",
                        format!("`{}` block given more than once", inner_spec.kind),
                    )
                    .at(header.clone(), "given again here")
                    .related(first.clone(), "first given here")
                    .help("remove one of them"),
                );
                continue;
            }
            seen.insert(dedup_key, header.clone());
        }
        let mut inner_attrs = check_attributes(file, inner, inner_spec, names.clone(), diagnostics);
        if let ("state", Some(backend)) = (inner_spec.kind, label.as_deref())
            && let Some((_, _, required)) = schema::STATE_BACKENDS
                .iter()
                .find(|(n, _, _)| *n == backend)
        {
            for name in *required {
                if !inner_attrs.iter().any(|a| a.name == *name) {
                    diagnostics.push(missing(&header, inner_spec.kind, name));
                }
            }
        }
        inner_attrs.retain(|a| names.contains(&a.name.as_str()));
        nested.push(Nested {
            kind: inner_spec.kind,
            label,
            header,
            attrs: inner_attrs,
        });
    }
    (attrs, nested)
}

fn missing(header: &Span, kind: &str, name: &str) -> Diagnostic {
    Diagnostic::error(
        "config::missing_attribute",
        format!("`{kind}` block is missing the required attribute `{name}`"),
    )
    .at(header.clone(), format!("`{name}` is required here"))
    .help(format!(
        "add `{name} = ...` to this block (see docs/language.md)"
    ))
}

/// Unknown, duplicate and missing attributes; returns the known ones.
fn check_attributes<'a>(
    file: &SourceFile,
    block: &'a Block,
    spec: &'static BlockSpec,
    names: Vec<&'static str>,
    diagnostics: &mut Diagnostics,
) -> Vec<Attr<'a>> {
    let header = header_span(file, block);
    let mut attrs: Vec<Attr<'a>> = Vec::new();
    for attribute in block.body.attributes() {
        let name = attribute.key.as_str();
        let key_span = span_of(file, attribute.key.span());
        if !names.contains(&name) {
            let mut d = Diagnostic::error(
                "config::unknown_attribute",
                format!("`{}` blocks have no attribute `{name}`", spec.kind),
            )
            .at(key_span, "unknown attribute");
            d = if spec.block(name).is_some() {
                d.help(format!("`{name}` is a block: write `{name} {{ ... }}`"))
            } else if let Some(close) = schema::did_you_mean(name, names.iter().copied()) {
                d.help(format!("did you mean `{close}`?"))
            } else {
                d.help(format!("`{}` takes: {}", spec.kind, names.join(", ")))
            };
            diagnostics.push(d);
            continue;
        }
        if let Some(first) = attrs.iter().find(|a| a.name == name) {
            diagnostics.push(
                Diagnostic::error(
                    "config::duplicate_attribute",
                    format!("attribute `{name}` is set more than once"),
                )
                .at(key_span, "set again here")
                .related(first.span.clone(), "first set here")
                .help("keep one of them"),
            );
            continue;
        }
        attrs.push(convert_attr(file, attribute));
    }
    if spec.kind != "state" {
        for attr_spec in spec.attrs.iter().filter(|a| a.required) {
            if !attrs.iter().any(|a| a.name == attr_spec.name) {
                diagnostics.push(missing(&header, spec.kind, attr_spec.name));
            }
        }
    }
    attrs
}

/// Resolves every name each declaration's expressions use, reports the ones that
/// name nothing, and records the dependency edges.
pub(super) fn resolve(nodes: &mut [Node<'_>], diagnostics: &mut Diagnostics) {
    let by_key: HashMap<String, usize> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.key.clone(), i))
        .collect();
    let mut names_by_root: HashMap<&str, Vec<String>> = HashMap::new();
    for node in nodes.iter() {
        let root = match node.kind {
            NodeKind::Variable => "var",
            NodeKind::Local => "local",
            NodeKind::Object => node.spec.kind,
            NodeKind::Settings | NodeKind::Output => continue,
        };
        names_by_root
            .entry(root)
            .or_default()
            .push(node.name.clone());
    }
    let scope = Scope {
        by_key: &by_key,
        names_by_root: &names_by_root,
    };
    for node in nodes.iter_mut() {
        let (kind, has_for_each, var_name) = (
            node.kind,
            node.attr("for_each").is_some(),
            node.name.clone(),
        );
        let mut deps = BTreeSet::new();
        let mut broken = false;
        let file = node.file.clone();
        let mut visit = |attr: &mut Attr<'_>, context: AttrContext| {
            if context == AttrContext::TypeExpression {
                return;
            }
            let uses = expr::uses(&attr.syntax.value);
            for call in &uses.calls {
                if let Some(d) = check_call(&file, call) {
                    diagnostics.push(d);
                    attr.broken = true;
                }
            }
            for raw in &uses.refs {
                let span = file.span(raw.span.clone());
                match scope.resolve(
                    raw,
                    &span,
                    context,
                    has_for_each && attr.name != "for_each",
                    &var_name,
                ) {
                    Ok(target) => {
                        if let Target::Node { node, .. } = &target {
                            deps.insert(*node);
                        }
                        attr.refs.push((target, span));
                    }
                    Err(d) => {
                        diagnostics.push(d);
                        attr.broken = true;
                    }
                }
            }
            if attr.broken {
                broken = true;
            }
        };
        for attr in node.attrs.iter_mut() {
            let context = match (kind, attr.name.as_str()) {
                (NodeKind::Variable, "type") => AttrContext::TypeExpression,
                (NodeKind::Variable, _) => AttrContext::Literal,
                _ => AttrContext::Normal,
            };
            visit(attr, context);
        }
        for nested in node.nested.iter_mut() {
            for attr in nested.attrs.iter_mut() {
                let context = match (nested.kind, attr.name.as_str()) {
                    ("validation", "condition" | "error_message") => AttrContext::Validation,
                    ("validation", _) => AttrContext::Literal,
                    _ => AttrContext::Normal,
                };
                visit(attr, context);
            }
        }
        node.deps = deps;
        node.broken |= broken;
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AttrContext {
    Normal,
    /// A variable's `default` or `description`: no references at all.
    Literal,
    /// A validation's `condition`: only the variable itself.
    Validation,
    TypeExpression,
}

struct Scope<'s> {
    by_key: &'s HashMap<String, usize>,
    names_by_root: &'s HashMap<&'s str, Vec<String>>,
}

impl Scope<'_> {
    // The error is a diagnostic built once per bad name and pushed right away; boxing
    // it would only add an allocation.
    #[allow(clippy::result_large_err)]
    fn resolve(
        &self,
        raw: &RawRef,
        span: &Span,
        context: AttrContext,
        each_allowed: bool,
        var_name: &str,
    ) -> Result<Target, Diagnostic> {
        let first = match raw.steps.first() {
            Some(Step::Attr(name)) => Some(name.as_str()),
            _ => None,
        };
        match context {
            AttrContext::Literal => {
                return Err(Diagnostic::error(
                    "config::variable_not_literal",
                    "a variable's default and description cannot refer to anything",
                )
                .at(span.clone(), "a reference")
                .help("write a literal value; compute derived values in a `locals` block"));
            }
            AttrContext::Validation => {
                if raw.root == "var" && first == Some(var_name) {
                    return Ok(Target::SelfVar);
                }
                return Err(Diagnostic::error(
                    "config::validation_reference",
                    format!("a validation of `var.{var_name}` can only use `var.{var_name}`"),
                )
                .at(span.clone(), "not allowed here")
                .help(format!(
                    "write the condition in terms of var.{var_name} alone"
                )));
            }
            AttrContext::Normal | AttrContext::TypeExpression => {}
        }
        let root = raw.root.as_str();
        match root {
            "each" => {
                if !each_allowed {
                    return Err(Diagnostic::error(
                        "config::each_outside_for_each",
                        "`each` is only available in a block with `for_each`",
                    )
                    .at(span.clone(), "no for_each here")
                    .help("add `for_each = ...` to this block, or refer to a variable or local instead"));
                }
                match first {
                    Some("key" | "value") => Ok(Target::Each),
                    _ => Err(Diagnostic::error(
                        "config::unknown_reference",
                        "`each` has only `each.key` and `each.value`",
                    )
                    .at(span.clone(), "not each.key or each.value")
                    .help("use each.key (the map key or set element) or each.value")),
                }
            }
            "var" | "local" => {
                let (prefix, what) = if root == "var" {
                    ("variable", "variable")
                } else {
                    ("local", "local value")
                };
                let Some(name) = first else {
                    return Err(Diagnostic::error(
                        "config::unknown_reference",
                        format!("`{root}` alone is not a value"),
                    )
                    .at(span.clone(), "needs a name")
                    .help(format!("write {root}.NAME")));
                };
                match self.by_key.get(&format!("{prefix}.{name}")) {
                    Some(&node) => Ok(Target::Node {
                        node,
                        steps: raw.steps[1..].to_vec(),
                    }),
                    None => Err(self.undeclared(root, name, what, span)),
                }
            }
            kind if schema::object_block(kind).is_some() => {
                let spec = schema::object_block(kind)
                    .ok_or_else(|| Diagnostic::error("config::internal", "unreachable"))?;
                let Some(name) = first else {
                    return Err(Diagnostic::error(
                        "config::unknown_reference",
                        format!("`{kind}` alone is not a value"),
                    )
                    .at(span.clone(), "needs a name")
                    .help(format!("refer to one block: {kind}.NAME")));
                };
                let Some(&node) = self.by_key.get(&format!("{kind}.{name}")) else {
                    return Err(self.undeclared(kind, name, &format!("`{kind}` block"), span));
                };
                let mut rest = &raw.steps[1..];
                if let Some(Step::Key(_) | Step::Dynamic) = rest.first() {
                    rest = &rest[1..];
                }
                if let Some(Step::Attr(attribute)) = rest.first()
                    && let Some(AttrType::Ref(target) | AttrType::RefList(target)) =
                        spec.attr(attribute).map(|a| a.ty)
                    && rest.len() > 1
                {
                    return Err(Diagnostic::error(
                        "config::reference_chain",
                        format!(
                            "`{kind}.{name}.{attribute}` is a reference and holds only an address"
                        ),
                    )
                    .at(span.clone(), "cannot look inside a reference")
                    .help(format!(
                        "refer to the `{target}` block directly: `{target}.NAME.ATTRIBUTE`"
                    )));
                }
                if let Some(Step::Attr(attribute)) = rest.first()
                    && spec.attr(attribute).is_none()
                {
                    let names = spec.attrs.iter().map(|a| a.name);
                    let mut d = Diagnostic::error(
                        "config::unknown_reference_attribute",
                        format!("`{kind}` blocks have no attribute `{attribute}`"),
                    )
                    .at(span.clone(), "unknown attribute");
                    d = match schema::did_you_mean(attribute, names) {
                        Some(close) => d.help(format!("did you mean `{kind}.{name}.{close}`?")),
                        None => d.help(format!(
                            "`{kind}` has: {}",
                            spec.attrs
                                .iter()
                                .map(|a| a.name)
                                .collect::<Vec<_>>()
                                .join(", ")
                        )),
                    };
                    return Err(d);
                }
                Ok(Target::Node {
                    node,
                    steps: raw.steps[1..].to_vec(),
                })
            }
            other => {
                let mut roots = vec!["var", "local", "each"];
                roots.extend(schema::OBJECT_BLOCKS.iter().map(|b| b.kind));
                let mut d = Diagnostic::error(
                    "config::unknown_reference",
                    format!("unknown name `{other}`"),
                )
                .at(span.clone(), "not declared");
                d = match schema::did_you_mean(other, roots.iter().copied()) {
                    Some(close) => d.help(format!("did you mean `{close}`?")),
                    None => d.help(
                        "expressions can use var.NAME, local.NAME, each.key/each.value and block references such as master_target.NAME; quote text: \"...\"",
                    ),
                };
                Err(d)
            }
        }
    }

    fn undeclared(&self, root: &str, name: &str, what: &str, span: &Span) -> Diagnostic {
        let empty = Vec::new();
        let known = self.names_by_root.get(root).unwrap_or(&empty);
        let kind = if root == "var" { "variable" } else { root };
        let d = Diagnostic::error(
            "config::undeclared",
            format!("reference to undeclared {what} `{name}`"),
        )
        .at(span.clone(), "not declared");
        match schema::did_you_mean(name, known.iter().map(String::as_str)) {
            Some(close) => d.help(format!("did you mean `{root}.{close}`?")),
            None if root == "local" => {
                d.help(format!("declare it in a locals block: `{name} = ...`"))
            }
            None => d.help(format!("declare it: `{kind} \"{name}\" {{ ... }}`")),
        }
    }
}

/// Unknown functions and wrong argument counts, found before evaluation so that the
/// label sits on the call.
fn check_call(file: &SourceFile, call: &expr::RawCall) -> Option<Diagnostic> {
    let Some(&(_, min, max)) = FUNCTIONS.iter().find(|(name, _, _)| *name == call.name) else {
        let d = Diagnostic::error(
            "config::unknown_function",
            format!("unknown function `{}`", call.name),
        )
        .at(file.span(call.name_span.clone()), "no such function");
        let names = FUNCTIONS.iter().map(|(name, _, _)| *name);
        return Some(match schema::did_you_mean(&call.name, names) {
            Some(close) => d.help(format!("did you mean `{close}`?")),
            None => d.help(format!(
                "the functions are: {}",
                FUNCTIONS
                    .iter()
                    .map(|(n, _, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        });
    };
    if call.expands {
        return None;
    }
    let too_few = call.args < min;
    let too_many = max.is_some_and(|max| call.args > max);
    if !too_few && !too_many {
        return None;
    }
    let expected = match max {
        Some(max) if max == min => format!("{min}"),
        Some(max) => format!("{min} to {max}"),
        None => format!("at least {min}"),
    };
    Some(
        Diagnostic::error(
            "config::wrong_argument_count",
            format!(
                "`{}` takes {expected} argument(s), got {}",
                call.name, call.args
            ),
        )
        .at(file.span(call.span.clone()), "wrong number of arguments")
        .help("see docs/language.md#functions for each function's arguments"),
    )
}
