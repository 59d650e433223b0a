//! Input variables: where their values come from (`-var`, `-var-file`,
//! `FAILBACK_VAR_*`, defaults, in Terraform's precedence) and the type constraints of
//! `variable` blocks (`string`, `number`, `bool`, `list(T)`, `set(T)`, `map(T)`,
//! `object({...})`, `tuple([...])`, `any`) with Terraform's conversions.

use std::path::PathBuf;

use hcl::Value;
use hcl_edit::expr::{Expression, ObjectKey};

/// Values given for variables from outside the configuration.
///
/// Precedence, lowest to highest (later wins), as Terraform's: the variable's default,
/// `FAILBACK_VAR_<name>` environment variables, `-var-file` files in the order given,
/// `-var` flags in the order given.
#[derive(Debug, Clone, Default)]
pub struct VariableInputs {
    /// `-var NAME=VALUE`, in command-line order (the raw `NAME=VALUE` text).
    pub vars: Vec<String>,
    /// `-var-file FILE`, in command-line order.
    pub var_files: Vec<PathBuf>,
    /// `FAILBACK_VAR_<name>` environment variables: (name, raw value).
    pub env: Vec<(String, String)>,
}

/// The prefix of environment variables that set input variables.
pub const ENV_PREFIX: &str = "FAILBACK_VAR_";

impl VariableInputs {
    /// Adds every `FAILBACK_VAR_*` variable of this process's environment.
    pub fn with_process_env(mut self) -> VariableInputs {
        let mut found: Vec<(String, String)> = std::env::vars_os()
            .filter_map(|(key, value)| {
                let key = key.into_string().ok()?;
                let name = key.strip_prefix(ENV_PREFIX)?.to_owned();
                Some((name, value.into_string().ok()?))
            })
            .collect();
        found.sort();
        self.env.extend(found);
        self
    }
}

/// A variable's type constraint.
#[derive(Debug, Clone, PartialEq)]
pub enum VarType {
    Any,
    String,
    Number,
    Bool,
    List(Box<VarType>),
    Set(Box<VarType>),
    Map(Box<VarType>),
    Object(Vec<(String, VarType)>),
    Tuple(Vec<VarType>),
}

impl VarType {
    /// Reads a type expression such as `map(object({ os = string }))`.
    pub fn parse(expr: &Expression) -> Result<VarType, String> {
        match expr {
            Expression::Variable(name) => match name.as_str() {
                "any" => Ok(VarType::Any),
                "string" => Ok(VarType::String),
                "number" => Ok(VarType::Number),
                "bool" => Ok(VarType::Bool),
                other => Err(format!(
                    "unknown type `{other}`; expected string, number, bool, any, list(T), set(T), map(T), object({{...}}) or tuple([...])"
                )),
            },
            Expression::FuncCall(call) => {
                let name = call.name.name.as_str();
                let only_arg = || {
                    if call.args.len() == 1 {
                        call.args
                            .get(0)
                            .ok_or_else(|| format!("{name}(...) takes one type"))
                    } else {
                        Err(format!("{name}(...) takes exactly one type"))
                    }
                };
                match name {
                    "list" => Ok(VarType::List(Box::new(VarType::parse(only_arg()?)?))),
                    "set" => Ok(VarType::Set(Box::new(VarType::parse(only_arg()?)?))),
                    "map" => Ok(VarType::Map(Box::new(VarType::parse(only_arg()?)?))),
                    "object" => match only_arg()? {
                        Expression::Object(object) => {
                            let mut attributes = Vec::new();
                            for (key, value) in object.iter() {
                                let key = match key {
                                    ObjectKey::Ident(ident) => ident.as_str().to_owned(),
                                    ObjectKey::Expression(Expression::String(s)) => {
                                        s.as_str().to_owned()
                                    }
                                    ObjectKey::Expression(_) => {
                                        return Err("object type attribute names must be plain names".to_owned());
                                    }
                                };
                                attributes.push((key, VarType::parse(value.expr())?));
                            }
                            Ok(VarType::Object(attributes))
                        }
                        _ => Err("object(...) takes an object of attribute types: object({ name = string })".to_owned()),
                    },
                    "tuple" => match only_arg()? {
                        Expression::Array(array) => Ok(VarType::Tuple(
                            array.iter().map(VarType::parse).collect::<Result<_, _>>()?,
                        )),
                        _ => Err("tuple(...) takes a list of types: tuple([string, number])".to_owned()),
                    },
                    other => Err(format!(
                        "unknown type constructor `{other}`; expected list, set, map, object or tuple"
                    )),
                }
            }
            _ => Err(
                "a type must be a type name such as string or a constructor such as map(string)"
                    .to_owned(),
            ),
        }
    }

    /// Whether a value given as text on the command line or in the environment is
    /// taken literally (primitive types) or parsed as an HCL expression.
    pub fn takes_raw_text(&self) -> bool {
        matches!(
            self,
            VarType::Any | VarType::String | VarType::Number | VarType::Bool
        )
    }

    /// Converts `value` to this type as Terraform does (`"5"` to a number, `true` to
    /// `"true"`, lists to sets). Errors name the path and the types, never the value,
    /// because the value may be sensitive.
    pub fn convert(&self, value: Value) -> Result<Value, String> {
        self.convert_at(value, &mut String::new())
    }

    fn convert_at(&self, value: Value, path: &mut String) -> Result<Value, String> {
        let at = |path: &str| {
            if path.is_empty() {
                String::new()
            } else {
                format!(" at {path}")
            }
        };
        match (self, value) {
            (VarType::Any, value) => Ok(value),
            (_, Value::Null) => Ok(Value::Null),
            (VarType::String, Value::String(s)) => Ok(Value::String(s)),
            (VarType::String, Value::Number(n)) => Ok(Value::String(n.to_string())),
            (VarType::String, Value::Bool(b)) => Ok(Value::String(b.to_string())),
            (VarType::Number, Value::Number(n)) => Ok(Value::Number(n)),
            (VarType::Number, Value::String(s)) => {
                let parsed = s
                    .trim()
                    .parse::<i64>()
                    .map(hcl::Number::from)
                    .ok()
                    .or_else(|| s.trim().parse::<f64>().ok().and_then(hcl::Number::from_f64));
                parsed.map(Value::Number).ok_or_else(|| {
                    format!(
                        "expected a number{}, got a string that is not one",
                        at(path)
                    )
                })
            }
            (VarType::Bool, Value::Bool(b)) => Ok(Value::Bool(b)),
            (VarType::Bool, Value::String(s)) if s == "true" || s == "false" => {
                Ok(Value::Bool(s == "true"))
            }
            (VarType::List(element) | VarType::Set(element), Value::Array(items)) => {
                let mut converted = Vec::with_capacity(items.len());
                for (i, item) in items.into_iter().enumerate() {
                    let len = path.len();
                    path.push_str(&format!("[{i}]"));
                    let item = element.convert_at(item, path)?;
                    path.truncate(len);
                    if matches!(self, VarType::Set(_)) && converted.contains(&item) {
                        continue;
                    }
                    converted.push(item);
                }
                Ok(Value::Array(converted))
            }
            (VarType::Map(element), Value::Object(entries)) => {
                let mut converted = hcl::Map::with_capacity(entries.len());
                for (key, item) in entries {
                    let len = path.len();
                    path.push_str(&format!("[{key:?}]"));
                    let item = element.convert_at(item, path)?;
                    path.truncate(len);
                    converted.insert(key, item);
                }
                Ok(Value::Object(converted))
            }
            (VarType::Object(attributes), Value::Object(mut entries)) => {
                let mut converted = hcl::Map::with_capacity(attributes.len());
                for (name, ty) in attributes {
                    let len = path.len();
                    path.push_str(&format!(".{name}"));
                    let item = match entries.swap_remove(name) {
                        Some(item) => ty.convert_at(item, path)?,
                        None => {
                            return Err(format!("attribute `{name}` is required{}", at(path)));
                        }
                    };
                    path.truncate(len);
                    converted.insert(name.clone(), item);
                }
                Ok(Value::Object(converted))
            }
            (VarType::Tuple(types), Value::Array(items)) => {
                if types.len() != items.len() {
                    return Err(format!(
                        "expected a tuple of {} elements{}, got {}",
                        types.len(),
                        at(path),
                        items.len()
                    ));
                }
                let mut converted = Vec::with_capacity(items.len());
                for (i, (ty, item)) in types.iter().zip(items).enumerate() {
                    let len = path.len();
                    path.push_str(&format!("[{i}]"));
                    converted.push(ty.convert_at(item, path)?);
                    path.truncate(len);
                }
                Ok(Value::Array(converted))
            }
            (ty, value) => Err(format!(
                "expected {}{}, got {}",
                ty.describe(),
                at(path),
                describe_value(&value)
            )),
        }
    }

    fn describe(&self) -> String {
        match self {
            VarType::Any => "any value".to_owned(),
            VarType::String => "a string".to_owned(),
            VarType::Number => "a number".to_owned(),
            VarType::Bool => "a bool".to_owned(),
            VarType::List(_) => "a list".to_owned(),
            VarType::Set(_) => "a set".to_owned(),
            VarType::Map(_) => "a map".to_owned(),
            VarType::Object(_) => "an object".to_owned(),
            VarType::Tuple(_) => "a tuple".to_owned(),
        }
    }
}

/// A value's type in words, for error messages that must not show the value itself.
pub fn describe_value(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a bool",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ty(text: &str) -> VarType {
        VarType::parse(&hcl_edit::parser::parse_expr(text).unwrap()).unwrap()
    }

    #[test]
    fn parses_nested_types() {
        assert_eq!(
            ty("map(object({ os = string, disks = list(number) }))"),
            VarType::Map(Box::new(VarType::Object(vec![
                ("os".into(), VarType::String),
                ("disks".into(), VarType::List(Box::new(VarType::Number))),
            ])))
        );
        assert!(VarType::parse(&hcl_edit::parser::parse_expr("strin").unwrap()).is_err());
    }

    #[test]
    fn converts_like_terraform() {
        assert_eq!(
            VarType::Number.convert(Value::from("42")),
            Ok(Value::from(42))
        );
        assert_eq!(
            VarType::String.convert(Value::from(7)),
            Ok(Value::from("7"))
        );
        assert_eq!(
            ty("set(string)").convert(hcl::value!(["a", "b", "a"])),
            Ok(hcl::value!(["a", "b"]))
        );
        let err = ty("map(object({ os = string }))")
            .convert(hcl::value!({ web01 = { cpu = 2 } }))
            .unwrap_err();
        assert_eq!(err, "attribute `os` is required at [\"web01\"].os");
        let err = VarType::Bool
            .convert(Value::from("secret-ish"))
            .unwrap_err();
        assert!(!err.contains("secret-ish"), "{err}");
    }
}
