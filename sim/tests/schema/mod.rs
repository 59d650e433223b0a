//! A small swagger 2.0 checker for the simulator's answers: resolves `$ref`s (local
//! and into ARM's common types), `allOf` inheritance and the `instanceType`
//! discriminators, and reports every place where a JSON value breaks its schema —
//! a missing required property, a property the schema does not define, a wrong type,
//! an enum value outside the list, a malformed date-time.
//!
//! It reads Microsoft's files from `shared/asr-api/` (found beside the project, or at
//! `$FAILBACK_SHARED`), so the simulator is checked against the published contract,
//! not against a copy it could drift with.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde_json::Value;

const COMMON_PREFIX: &str = "../../../../../../common-types/resource-management/v5/types.json";

/// Which document a schema lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Doc {
    Service,
    Common,
}

pub struct Swagger {
    pub dir: PathBuf,
    service: Value,
    common: Value,
}

/// `shared/asr-api`: `$FAILBACK_SHARED/asr-api`, else the first `shared/asr-api` found
/// walking up from this crate.
pub fn asr_api_dir() -> PathBuf {
    if let Ok(shared) = std::env::var("FAILBACK_SHARED") {
        return PathBuf::from(shared).join("asr-api");
    }
    let start = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    for dir in start.ancestors() {
        let candidate = dir.join("shared/asr-api");
        if candidate.join("service.2026-05-01.json").exists() {
            return candidate;
        }
    }
    panic!(
        "Microsoft's ASR swagger was not found: expected shared/asr-api/service.2026-05-01.json \
         beside the project (or set FAILBACK_SHARED to the shared/ directory)"
    );
}

fn read_json(path: &PathBuf) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A schema with the definition it came from (for discriminator look-ups).
#[derive(Debug, Clone)]
struct Located<'a> {
    doc: Doc,
    schema: &'a Value,
    definition: Option<String>,
}

/// A schema with its `allOf` chain folded in.
#[derive(Debug, Default)]
struct Flat<'a> {
    kind: Option<String>,
    format: Option<String>,
    enumeration: Option<Vec<Value>>,
    properties: BTreeMap<String, Located<'a>>,
    required: BTreeSet<String>,
    additional: Option<Located<'a>>,
    items: Option<Located<'a>>,
    discriminator: Option<String>,
    /// Definitions this one is, itself included (for subtype search).
    lineage: Vec<String>,
}

impl Swagger {
    pub fn load() -> Swagger {
        let dir = asr_api_dir();
        let service = read_json(&dir.join("service.2026-05-01.json"));
        let common = read_json(&dir.join("common-types/resource-management/v5/types.json"));
        Swagger {
            dir,
            service,
            common,
        }
    }

    fn document(&self, doc: Doc) -> &Value {
        match doc {
            Doc::Service => &self.service,
            Doc::Common => &self.common,
        }
    }

    fn resolve(&self, doc: Doc, reference: &str) -> Located<'_> {
        let (target_doc, pointer) = if let Some(rest) = reference.strip_prefix(COMMON_PREFIX) {
            (Doc::Common, rest)
        } else if reference.starts_with('#') {
            (doc, reference)
        } else {
            panic!("unsupported $ref {reference}");
        };
        let pointer = pointer.trim_start_matches('#');
        let schema = self
            .document(target_doc)
            .pointer(pointer)
            .unwrap_or_else(|| panic!("$ref {reference} does not resolve"));
        let definition = pointer.strip_prefix("/definitions/").map(str::to_owned);
        Located {
            doc: target_doc,
            schema,
            definition,
        }
    }

    /// Follows `$ref` until a schema with content is reached.
    fn deref<'a>(&'a self, mut at: Located<'a>) -> Located<'a> {
        for _ in 0..64 {
            match at.schema.get("$ref").and_then(Value::as_str) {
                Some(reference) => at = self.resolve(at.doc, reference),
                None => return at,
            }
        }
        panic!("$ref cycle");
    }

    fn flatten<'a>(&'a self, at: Located<'a>) -> Flat<'a> {
        let at = self.deref(at);
        let mut flat = Flat::default();
        self.fold(&at, &mut flat, 0);
        flat
    }

    fn fold<'a>(&'a self, at: &Located<'a>, flat: &mut Flat<'a>, depth: usize) {
        assert!(depth < 32, "allOf too deep");
        if let Some(name) = &at.definition {
            flat.lineage.push(name.clone());
        }
        let schema = at.schema;
        if let Some(parents) = schema.get("allOf").and_then(Value::as_array) {
            for parent in parents {
                let parent = self.deref(Located {
                    doc: at.doc,
                    schema: parent,
                    definition: None,
                });
                self.fold(&parent, flat, depth + 1);
            }
        }
        if let Some(kind) = schema.get("type").and_then(Value::as_str) {
            flat.kind = Some(kind.to_owned());
        }
        if let Some(format) = schema.get("format").and_then(Value::as_str) {
            flat.format = Some(format.to_owned());
        }
        if let Some(values) = schema.get("enum").and_then(Value::as_array) {
            flat.enumeration = Some(values.clone());
        }
        if let Some(field) = schema.get("discriminator").and_then(Value::as_str) {
            flat.discriminator = Some(field.to_owned());
        }
        if let Some(required) = schema.get("required").and_then(Value::as_array) {
            flat.required
                .extend(required.iter().filter_map(Value::as_str).map(str::to_owned));
        }
        if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
            for (name, property) in properties {
                flat.properties.insert(
                    name.clone(),
                    Located {
                        doc: at.doc,
                        schema: property,
                        definition: None,
                    },
                );
            }
        }
        if let Some(additional) = schema.get("additionalProperties")
            && additional.is_object()
        {
            flat.additional = Some(Located {
                doc: at.doc,
                schema: additional,
                definition: None,
            });
        }
        if let Some(items) = schema.get("items") {
            flat.items = Some(Located {
                doc: at.doc,
                schema: items,
                definition: None,
            });
        }
    }

    /// The definition in the service document that extends `base` (transitively) and
    /// carries the discriminator value `value`.
    fn subtype(&self, base: &str, value: &str) -> Option<Located<'_>> {
        let definitions = self.service.get("definitions")?.as_object()?;
        for (name, schema) in definitions {
            let tag = schema
                .get("x-ms-discriminator-value")
                .and_then(Value::as_str)
                .unwrap_or(name);
            if tag != value || name == base {
                continue;
            }
            let located = Located {
                doc: Doc::Service,
                schema,
                definition: Some(name.clone()),
            };
            let flat = self.flatten(located.clone());
            if flat.lineage.iter().any(|l| l == base) {
                return Some(located);
            }
        }
        None
    }

    /// Checks `value` against the definition `name` of the service document.
    pub fn check_definition(&self, name: &str, value: &Value) -> Vec<String> {
        let located = self.resolve(Doc::Service, &format!("#/definitions/{name}"));
        let mut errors = Vec::new();
        self.check(located, value, "$", &mut errors);
        errors
    }

    /// Checks `value` against the definition `name` of ARM's common types.
    pub fn check_common(&self, name: &str, value: &Value) -> Vec<String> {
        let located = self.resolve(Doc::Common, &format!("#/definitions/{name}"));
        let mut errors = Vec::new();
        self.check(located, value, "$", &mut errors);
        errors
    }

    /// The schema of an operation's response, found by the request path (matched
    /// case-insensitively against the swagger's path templates) and method.
    pub fn response_schema(&self, method: &str, path: &str, status: &str) -> Option<&Value> {
        let paths = self.service.get("paths")?.as_object()?;
        let wanted: Vec<String> = path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(str::to_ascii_lowercase)
            .collect();
        for (template, operations) in paths {
            let parts: Vec<&str> = template.split('/').filter(|s| !s.is_empty()).collect();
            if parts.len() != wanted.len() {
                continue;
            }
            let matches = parts.iter().zip(&wanted).all(|(t, w)| {
                (t.starts_with('{') && t.ends_with('}')) || t.to_ascii_lowercase() == *w
            });
            if matches {
                return operations
                    .get(method.to_ascii_lowercase())
                    .and_then(|op| op.get("responses"))
                    .and_then(|r| r.get(status));
            }
        }
        None
    }

    /// Checks a response body against the operation's declared response schema.
    pub fn check_response(
        &self,
        method: &str,
        path: &str,
        status: u16,
        body: &Value,
    ) -> Vec<String> {
        let Some(response) = self.response_schema(method, path, &status.to_string()) else {
            return vec![format!(
                "{method} {path}: no {status} response in the swagger"
            )];
        };
        let Some(schema) = response.get("schema") else {
            return vec![format!("{method} {path}: {status} has no schema")];
        };
        let mut errors = Vec::new();
        self.check(
            Located {
                doc: Doc::Service,
                schema,
                definition: None,
            },
            body,
            "$",
            &mut errors,
        );
        errors
    }

    fn check(&self, at: Located<'_>, value: &Value, path: &str, errors: &mut Vec<String>) {
        let flat = self.flatten(at);
        // Polymorphism: validate against the subtype the discriminator names.
        if let (Some(field), Some(base)) = (&flat.discriminator, flat.lineage.first())
            && let Some(tag) = value.get(field).and_then(Value::as_str)
            && !flat.lineage.iter().any(|l| {
                self.service["definitions"][l]
                    .get("x-ms-discriminator-value")
                    .and_then(Value::as_str)
                    .unwrap_or(l)
                    == tag
            })
        {
            match self.subtype(base, tag) {
                Some(sub) => return self.check(sub, value, path, errors),
                None => {
                    errors.push(format!(
                        "{path}.{field}: '{tag}' names no subtype of {base}"
                    ));
                    return;
                }
            }
        }
        let kind = flat.kind.clone().or_else(|| {
            (!flat.properties.is_empty() || flat.additional.is_some()).then(|| "object".to_owned())
        });
        match kind.as_deref() {
            Some("object") | None if value.is_object() => {
                let Some(object) = value.as_object() else {
                    return;
                };
                for required in &flat.required {
                    if !object.contains_key(required) {
                        errors.push(format!("{path}: required property '{required}' missing"));
                    }
                }
                for (name, field) in object {
                    let field_path = format!("{path}.{name}");
                    if let Some(property) = flat.properties.get(name) {
                        self.check(property.clone(), field, &field_path, errors);
                    } else if let Some(additional) = &flat.additional {
                        self.check(additional.clone(), field, &field_path, errors);
                    } else {
                        errors.push(format!("{field_path}: property not in the schema"));
                    }
                }
            }
            Some("object") => errors.push(format!("{path}: expected an object, got {value}")),
            None => {}
            Some("array") => match value.as_array() {
                Some(items) => {
                    if let Some(schema) = &flat.items {
                        for (i, item) in items.iter().enumerate() {
                            self.check(schema.clone(), item, &format!("{path}[{i}]"), errors);
                        }
                    }
                }
                None => errors.push(format!("{path}: expected an array, got {value}")),
            },
            Some("string") => match value.as_str() {
                Some(text) => {
                    if flat.format.as_deref() == Some("date-time")
                        && chrono::DateTime::parse_from_rfc3339(text).is_err()
                    {
                        errors.push(format!("{path}: '{text}' is not an RFC 3339 date-time"));
                    }
                    if let Some(values) = &flat.enumeration
                        && !values.iter().any(|v| v == value)
                    {
                        errors.push(format!("{path}: '{text}' is not one of {values:?}"));
                    }
                }
                None => errors.push(format!("{path}: expected a string, got {value}")),
            },
            Some("integer") if !(value.is_i64() || value.is_u64()) => {
                errors.push(format!("{path}: expected an integer, got {value}"));
            }
            Some("number") if !value.is_number() => {
                errors.push(format!("{path}: expected a number, got {value}"));
            }
            Some("boolean") if !value.is_boolean() => {
                errors.push(format!("{path}: expected a boolean, got {value}"));
            }
            Some("integer" | "number" | "boolean") => {}
            Some(other) => errors.push(format!("{path}: unsupported schema type {other}")),
        }
    }
}

/// The structure of a JSON value: every key path (arrays as `[]`), for comparing the
/// simulator's shapes with Microsoft's examples.
pub fn key_paths(value: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    collect_paths(value, "", &mut out);
    out
}

fn collect_paths(value: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                out.insert(path.clone());
                collect_paths(inner, &path, out);
            }
        }
        Value::Array(items) => {
            for item in items {
                collect_paths(item, &format!("{prefix}[]"), out);
            }
        }
        _ => {}
    }
}

/// The body of a published example's response.
pub fn example_body(swagger: &Swagger, file: &str, status: &str) -> Value {
    let path = swagger.dir.join("examples/2026-05-01").join(file);
    read_json(&path)["responses"][status]["body"].clone()
}
