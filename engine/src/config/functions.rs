//! The functions expressions may call: `env`, `file`, `lower`, `upper`, `merge`,
//! `concat`, `lookup`, `length`, `format`, declared into an hcl-rs evaluation context.
//!
//! hcl-rs functions are plain `fn` pointers and cannot capture anything, so `file`
//! reads the configuration directory from a thread-local that [`ConfigDirGuard`] sets
//! for the duration of one load.

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use hcl::Value;
use hcl::eval::{Context, FuncArgs, FuncDef, ParamType};

/// How many arguments each function takes: (minimum, maximum or `None` for any).
pub const FUNCTIONS: &[(&str, usize, Option<usize>)] = &[
    ("env", 1, Some(2)),
    ("file", 1, Some(1)),
    ("lower", 1, Some(1)),
    ("upper", 1, Some(1)),
    ("merge", 0, None),
    ("concat", 0, None),
    ("lookup", 2, Some(3)),
    ("length", 1, Some(1)),
    ("format", 1, None),
];

/// The largest file `file()` reads: configuration snippets, certificates, keys.
const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

thread_local! {
    static CONFIG_DIR: RefCell<Option<PathBuf>> = const { RefCell::new(None) };
}

/// Makes `file()` resolve relative paths against `dir` until dropped.
pub struct ConfigDirGuard {
    previous: Option<PathBuf>,
}

impl ConfigDirGuard {
    pub fn set(dir: &Path) -> ConfigDirGuard {
        let previous = CONFIG_DIR.with(|cell| cell.replace(Some(dir.to_path_buf())));
        ConfigDirGuard { previous }
    }
}

impl Drop for ConfigDirGuard {
    fn drop(&mut self) {
        let previous = self.previous.take();
        CONFIG_DIR.with(|cell| *cell.borrow_mut() = previous);
    }
}

/// Declares every function into `ctx`.
pub fn declare_all(ctx: &mut Context<'_>) {
    ctx.declare_func(
        "env",
        FuncDef::builder()
            .param(ParamType::String)
            .variadic_param(ParamType::String)
            .build(env),
    );
    ctx.declare_func(
        "file",
        FuncDef::builder().param(ParamType::String).build(file),
    );
    ctx.declare_func(
        "lower",
        FuncDef::builder().param(ParamType::String).build(lower),
    );
    ctx.declare_func(
        "upper",
        FuncDef::builder().param(ParamType::String).build(upper),
    );
    ctx.declare_func(
        "merge",
        FuncDef::builder()
            .variadic_param(ParamType::nullable(ParamType::object_of(ParamType::Any)))
            .build(merge),
    );
    ctx.declare_func(
        "concat",
        FuncDef::builder()
            .variadic_param(ParamType::array_of(ParamType::Any))
            .build(concat),
    );
    ctx.declare_func(
        "lookup",
        FuncDef::builder()
            .param(ParamType::object_of(ParamType::Any))
            .param(ParamType::String)
            .variadic_param(ParamType::Any)
            .build(lookup),
    );
    ctx.declare_func(
        "length",
        FuncDef::builder()
            .param(ParamType::one_of([
                ParamType::String,
                ParamType::array_of(ParamType::Any),
                ParamType::object_of(ParamType::Any),
            ]))
            .build(length),
    );
    ctx.declare_func(
        "format",
        FuncDef::builder()
            .param(ParamType::String)
            .variadic_param(ParamType::Any)
            .build(format),
    );
}

fn string_arg(args: &FuncArgs, at: usize) -> Result<&str, String> {
    args.get(at)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("argument {} must be a string", at + 1))
}

fn env(args: FuncArgs) -> Result<Value, String> {
    let name = string_arg(&args, 0)?;
    if args.len() > 2 {
        return Err("env takes a name and an optional default".to_owned());
    }
    match std::env::var(name) {
        Ok(value) => Ok(Value::from(value)),
        Err(_) => match args.get(1) {
            Some(default) => Ok(default.clone()),
            None => Err(format!(
                "environment variable {name} is not set; set it or give a default: env(\"{name}\", \"...\")"
            )),
        },
    }
}

fn file(args: FuncArgs) -> Result<Value, String> {
    let relative = string_arg(&args, 0)?;
    let dir = CONFIG_DIR.with(|cell| cell.borrow().clone());
    let path = match dir {
        Some(dir) => dir.join(relative),
        None => PathBuf::from(relative),
    };
    let size = std::fs::metadata(&path)
        .map_err(|e| format!("cannot read {relative}: {e}"))?
        .len();
    if size > MAX_FILE_BYTES {
        return Err(format!(
            "{relative} is {size} bytes; file() reads at most {MAX_FILE_BYTES}"
        ));
    }
    let text =
        std::fs::read_to_string(&path).map_err(|e| format!("cannot read {relative}: {e}"))?;
    Ok(Value::from(text))
}

fn lower(args: FuncArgs) -> Result<Value, String> {
    Ok(Value::from(string_arg(&args, 0)?.to_lowercase()))
}

fn upper(args: FuncArgs) -> Result<Value, String> {
    Ok(Value::from(string_arg(&args, 0)?.to_uppercase()))
}

fn merge(args: FuncArgs) -> Result<Value, String> {
    let mut merged = hcl::Map::new();
    for arg in args.iter() {
        if let Some(object) = arg.as_object() {
            for (key, value) in object {
                merged.insert(key.clone(), value.clone());
            }
        }
    }
    Ok(Value::Object(merged))
}

fn concat(args: FuncArgs) -> Result<Value, String> {
    let mut joined = Vec::new();
    for arg in args.iter() {
        if let Some(array) = arg.as_array() {
            joined.extend(array.iter().cloned());
        }
    }
    Ok(Value::Array(joined))
}

fn lookup(args: FuncArgs) -> Result<Value, String> {
    if args.len() > 3 {
        return Err("lookup takes a map, a key and an optional default".to_owned());
    }
    let key = string_arg(&args, 1)?;
    let found = args
        .first()
        .and_then(Value::as_object)
        .and_then(|map| map.get(key));
    match (found, args.get(2)) {
        (Some(value), _) => Ok(value.clone()),
        (None, Some(default)) => Ok(default.clone()),
        (None, None) => Err(format!(
            "the map has no key {key:?}; give a default as the third argument"
        )),
    }
}

fn length(args: FuncArgs) -> Result<Value, String> {
    let length = match args.first() {
        Some(Value::String(s)) => s.chars().count(),
        Some(Value::Array(a)) => a.len(),
        Some(Value::Object(o)) => o.len(),
        _ => return Err("length takes a string, a list or a map".to_owned()),
    };
    Ok(Value::from(length as u64))
}

/// `format("%s-%03d", a, b)`: `%s`, `%d` (with zero padding and width), `%v`, `%q`
/// and `%%`, as Terraform's `format` for the cases configurations use.
fn format(args: FuncArgs) -> Result<Value, String> {
    let spec = string_arg(&args, 0)?;
    let mut values = args.iter().skip(1);
    let mut out = String::new();
    let mut chars = spec.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut flags = String::new();
        while let Some(&d) = chars.peek() {
            if d.is_ascii_digit() {
                flags.push(d);
                chars.next();
            } else {
                break;
            }
        }
        let verb = chars
            .next()
            .ok_or_else(|| "format string ends with a lone %".to_owned())?;
        if verb == '%' {
            out.push('%');
            continue;
        }
        let value = values
            .next()
            .ok_or_else(|| format!("not enough arguments for %{verb}"))?;
        let text = match verb {
            's' | 'v' => plain_text(value),
            'q' => format!("{:?}", plain_text(value)),
            'd' => {
                let number = value
                    .as_number()
                    .and_then(|n| n.as_i64())
                    .or_else(|| value.as_str().and_then(|s| s.parse::<i64>().ok()))
                    .ok_or_else(|| "%d needs a whole number".to_owned())?;
                number.to_string()
            }
            other => return Err(format!("unsupported format verb %{other}")),
        };
        let width: usize = flags.trim_start_matches('0').parse().unwrap_or(0);
        let pad = if flags.starts_with('0') { '0' } else { ' ' };
        for _ in text.chars().count()..width {
            out.push(pad);
        }
        out.push_str(&text);
    }
    if values.next().is_some() {
        return Err("too many arguments for the format string".to_owned());
    }
    Ok(Value::from(out))
}

/// A value as text: strings without quotes, everything else in HCL notation.
fn plain_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        other => hcl::format::to_string(other).unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hcl::eval::Evaluate;

    fn eval(text: &str) -> Result<Value, String> {
        let mut ctx = Context::new();
        declare_all(&mut ctx);
        let expr: hcl::Expression = hcl::from_str::<hcl::Body>(&format!("x = {text}"))
            .map_err(|e| e.to_string())?
            .attributes()
            .next()
            .map(|a| a.expr().clone())
            .ok_or("no attribute")?;
        expr.evaluate(&ctx).map_err(|e| e.to_string())
    }

    #[test]
    fn string_functions() {
        assert_eq!(eval("upper(\"web\")"), Ok(Value::from("WEB")));
        assert_eq!(eval("lower(\"WEB\")"), Ok(Value::from("web")));
        assert_eq!(eval("length(\"héllo\")"), Ok(Value::from(5u64)));
        assert_eq!(
            eval("format(\"%s-%03d %q %%\", \"web\", 7, \"x\")"),
            Ok(Value::from("web-007 \"x\" %"))
        );
        assert!(eval("format(\"%s %s\", \"a\")").is_err());
    }

    #[test]
    fn collection_functions() {
        assert_eq!(
            eval("merge({a = 1, b = 2}, {b = 3})"),
            Ok(hcl::value!({ a = 1, b = 3 }))
        );
        assert_eq!(eval("concat([1], [2, 3])"), Ok(hcl::value!([1, 2, 3])));
        assert_eq!(eval("lookup({a = 1}, \"a\")"), Ok(Value::from(1u64)));
        assert_eq!(eval("lookup({a = 1}, \"b\", 9)"), Ok(Value::from(9u64)));
        assert!(eval("lookup({a = 1}, \"b\")").is_err());
        assert_eq!(eval("length([1, 2])"), Ok(Value::from(2u64)));
    }

    #[test]
    fn env_uses_its_default_when_unset() {
        assert_eq!(
            eval("env(\"FAILBACK_TEST_SURELY_UNSET\", \"dflt\")"),
            Ok(Value::from("dflt"))
        );
        assert!(eval("env(\"FAILBACK_TEST_SURELY_UNSET\")").is_err());
    }
}
