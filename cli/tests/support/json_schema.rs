//! A small JSON Schema (2020-12) checker for the keywords docs/plan-json.schema.json
//! uses: `type`, `properties`, `required`, `additionalProperties`, `items`, `enum`,
//! `const`, `minimum`, `$ref` to `#/$defs/...`. Any other keyword is an error, so a
//! schema can never pass because the checker skipped what it did not understand.

use serde_json::Value;

const ANNOTATIONS: &[&str] = &[
    "$schema",
    "$id",
    "$defs",
    "title",
    "description",
    "$comment",
];

/// Every place where `instance` does not match `schema`, as `path: problem`.
pub fn validate(schema: &Value, instance: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    check(schema, schema, instance, "$", &mut errors);
    errors
}

fn type_matches(name: &str, value: &Value) -> bool {
    match name {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        _ => false,
    }
}

fn check(root: &Value, schema: &Value, instance: &Value, path: &str, errors: &mut Vec<String>) {
    let Some(schema) = schema.as_object() else {
        if schema != &Value::Bool(true) {
            errors.push(format!("{path}: schema is not an object"));
        }
        return;
    };
    for (keyword, rule) in schema {
        match keyword.as_str() {
            k if ANNOTATIONS.contains(&k) => {}
            "$ref" => {
                let target = rule
                    .as_str()
                    .and_then(|r| r.strip_prefix("#/$defs/"))
                    .and_then(|name| root.get("$defs").and_then(|defs| defs.get(name)));
                match target {
                    Some(target) => check(root, target, instance, path, errors),
                    None => errors.push(format!("{path}: unresolvable $ref {rule}")),
                }
            }
            "type" => {
                let names: Vec<&str> = match rule {
                    Value::String(name) => vec![name.as_str()],
                    Value::Array(names) => names.iter().filter_map(Value::as_str).collect(),
                    _ => Vec::new(),
                };
                if !names.iter().any(|name| type_matches(name, instance)) {
                    errors.push(format!("{path}: expected {names:?}, found {instance}"));
                }
            }
            "enum" => {
                if !rule
                    .as_array()
                    .is_some_and(|values| values.contains(instance))
                {
                    errors.push(format!("{path}: {instance} is not one of {rule}"));
                }
            }
            "const" => {
                if rule != instance {
                    errors.push(format!("{path}: {instance} is not {rule}"));
                }
            }
            "minimum" => {
                if let (Some(min), Some(value)) = (rule.as_f64(), instance.as_f64())
                    && value < min
                {
                    errors.push(format!("{path}: {value} < {min}"));
                }
            }
            "required" => {
                if let Some(object) = instance.as_object() {
                    for name in rule
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                    {
                        if !object.contains_key(name) {
                            errors.push(format!("{path}: missing required {name:?}"));
                        }
                    }
                }
            }
            "properties" => {
                if let (Some(object), Some(properties)) = (instance.as_object(), rule.as_object()) {
                    for (name, value) in object {
                        if let Some(property) = properties.get(name) {
                            check(root, property, value, &format!("{path}.{name}"), errors);
                        }
                    }
                }
            }
            "additionalProperties" => {
                if let Some(object) = instance.as_object() {
                    let known = schema.get("properties").and_then(Value::as_object);
                    for (name, value) in object {
                        if known.is_some_and(|k| k.contains_key(name)) {
                            continue;
                        }
                        match rule {
                            Value::Bool(false) => errors
                                .push(format!("{path}: property {name:?} is not in the schema")),
                            Value::Bool(true) => {}
                            other => check(root, other, value, &format!("{path}.{name}"), errors),
                        }
                    }
                }
            }
            "items" => {
                if let Some(items) = instance.as_array() {
                    for (i, item) in items.iter().enumerate() {
                        check(root, rule, item, &format!("{path}[{i}]"), errors);
                    }
                }
            }
            other => errors.push(format!(
                "{path}: the checker does not know keyword {other:?}"
            )),
        }
    }
}

#[test]
fn the_checker_rejects_what_does_not_match() {
    let schema = serde_json::json!({
        "type": "object",
        "required": ["a"],
        "additionalProperties": false,
        "properties": {
            "a": { "$ref": "#/$defs/small" },
            "b": { "type": "array", "items": { "enum": ["x", "y"] } }
        },
        "$defs": { "small": { "type": "integer", "minimum": 0 } }
    });
    assert!(validate(&schema, &serde_json::json!({"a": 1, "b": ["x"]})).is_empty());
    assert_eq!(
        validate(&schema, &serde_json::json!({"b": ["z"], "c": 1})).len(),
        3
    );
    assert_eq!(validate(&schema, &serde_json::json!({"a": -1})).len(), 1);
    assert_eq!(validate(&schema, &serde_json::json!({"a": "1"})).len(), 1);
    let unknown = serde_json::json!({ "pattern": "^a" });
    assert_eq!(validate(&unknown, &serde_json::json!("a")).len(), 1);
}
