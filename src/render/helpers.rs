//! Template helpers (SPEC §3): sizes, percentages and durations for people, column
//! alignment for monospace mail, usage bars, and the comparisons templates branch on.
//!
//! Every helper returns a value, so each works both as `{{bytes total}}` and inside a
//! subexpression, `{{#if (gt percent 90)}}`. `null` (a value that is not known, such as the
//! exit code of a killed command) formats as `-`; anything else that is not what a helper
//! expects is a render error naming the helper and the value, which the template stage
//! reports with the template's file and line.

use handlebars::{
    Context, Handlebars, Helper, HelperDef, JsonTruthy, RenderContext, RenderError,
    RenderErrorReason, ScopedJson,
};
use serde_json::Value;

use crate::report::format::{format_bytes, format_duration, format_percent};

/// What formatting helpers print for `null`.
const UNKNOWN: &str = "-";

type Apply = fn(&[&Value], &Hash) -> Result<Value, HelperError>;

/// A helper called with what it cannot use; shown after the helper's name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum HelperError {
    #[error("expected a number, got {0}")]
    Number(String),
    #[error("expected text, got {0}")]
    Text(String),
    #[error("{what} must be a whole number from 0 to {max}, got {got}")]
    Count {
        what: &'static str,
        max: u64,
        got: String,
    },
    #[error("takes {takes}, got {got}")]
    Arity { takes: &'static str, got: usize },
    #[error("unknown option `{0}`")]
    Option(String),
    #[error("unknown option `{0}` (expected `width`)")]
    BarOption(String),
    #[error("cannot compare {0} with {1}")]
    Compare(String, String),
    #[error("unknown status {0} (expected \"ok\", \"failed\", \"timeout\" or \"error\")")]
    Status(String),
}

/// The `key=value` arguments of a call.
type Hash = serde_json::Map<String, Value>;

struct ValueHelper {
    name: &'static str,
    apply: Apply,
}

impl HelperDef for ValueHelper {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        registry: &'reg Handlebars<'reg>,
        _: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        // Handlebars passes a misspelt argument as null; strict mode means it is an error.
        if registry.strict_mode()
            && let Some(missing) = h
                .params()
                .iter()
                .chain(h.hash().values())
                .find(|p| p.is_value_missing())
        {
            return Err(
                RenderErrorReason::MissingVariable(missing.relative_path().cloned()).into(),
            );
        }
        let params: Vec<&Value> = h.params().iter().map(|p| p.value()).collect();
        let hash: Hash = h
            .hash()
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.value().clone()))
            .collect();
        (self.apply)(&params, &hash)
            .map(ScopedJson::Derived)
            .map_err(|e| RenderErrorReason::Other(format!("`{}`: {e}", self.name)).into())
    }
}

/// Every helper, by name.
const HELPERS: &[(&str, Apply)] = &[
    ("bytes", bytes),
    ("percent", percent),
    ("duration", duration),
    ("pad", pad),
    ("rpad", rpad),
    ("indent", indent),
    ("truncate", truncate),
    ("bar", bar),
    ("upper", upper),
    ("lower", lower),
    ("eq", eq),
    ("gt", gt),
    ("lt", lt),
    ("and", and),
    ("or", or),
    ("not", not),
    ("status_symbol", status_symbol),
];

/// Registers the helpers, replacing Handlebars' own comparisons, which treat a number
/// compared with text as simply false.
pub fn register(registry: &mut Handlebars<'_>) {
    for &(name, apply) in HELPERS {
        registry.register_helper(name, Box::new(ValueHelper { name, apply }));
    }
    register_json(registry);
}

/// `json VALUE`: the value JSON-encoded, for webhook bodies (`NAME.json.hbs`, SPEC §13).
/// Kept apart from [`HELPERS`]: webhooks brought it.
fn register_json(registry: &mut Handlebars<'_>) {
    registry.register_helper(
        "json",
        Box::new(ValueHelper {
            name: "json",
            apply: json,
        }),
    );
}

fn json(params: &[&Value], hash: &Hash) -> Result<Value, HelperError> {
    if let Some(key) = hash.keys().next() {
        return Err(HelperError::Option(key.clone()));
    }
    match params {
        [value] => Ok(Value::String(value.to_string())),
        _ => Err(HelperError::Arity {
            takes: "one value",
            got: params.len(),
        }),
    }
}

/// A short rendering of a value for error messages.
fn shown(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(40) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

/// A number, or a text that is one (command output often is); `None` for `null`.
fn number(value: &Value) -> Result<Option<f64>, HelperError> {
    let parsed = match value {
        Value::Null => return Ok(None),
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    match parsed {
        Some(n) if n.is_finite() => Ok(Some(n)),
        _ => Err(HelperError::Number(shown(value))),
    }
}

/// A whole number of at least 0 and at most `max` (a width or a count).
fn count(value: &Value, what: &'static str, max: u64) -> Result<usize, HelperError> {
    match value
        .as_u64()
        .or_else(|| value.as_str()?.trim().parse().ok())
    {
        Some(n) if n <= max => Ok(n as usize),
        _ => Err(HelperError::Count {
            what,
            max,
            got: shown(value),
        }),
    }
}

/// The text of a scalar (`null` is empty); arrays and objects are errors.
fn text(value: &Value) -> Result<String, HelperError> {
    match value {
        Value::Null => Ok(String::new()),
        Value::String(s) => Ok(s.clone()),
        Value::Number(_) | Value::Bool(_) => Ok(value.to_string()),
        _ => Err(HelperError::Text(shown(value))),
    }
}

fn arity<'a, const N: usize>(params: &[&'a Value]) -> Result<[&'a Value; N], HelperError> {
    <[&Value; N]>::try_from(params).map_err(|_| HelperError::Arity {
        takes: if N == 1 { "1 argument" } else { "2 arguments" },
        got: params.len(),
    })
}

fn no_hash(hash: &Hash) -> Result<(), HelperError> {
    match hash.keys().next() {
        Some(key) => Err(HelperError::Option(key.clone())),
        None => Ok(()),
    }
}

fn unknown() -> Value {
    Value::String(UNKNOWN.to_owned())
}

/// `{{bytes 1610612736}}` → `1.5 GiB`
fn bytes(params: &[&Value], hash: &Hash) -> Result<Value, HelperError> {
    no_hash(hash)?;
    let [value] = arity(params)?;
    Ok(number(value)?.map_or_else(unknown, |n| Value::String(format_bytes(n))))
}

/// `{{percent 70.46}}` → `70.5%`; `{{percent used total}}` → used / total in percent.
fn percent(params: &[&Value], hash: &Hash) -> Result<Value, HelperError> {
    no_hash(hash)?;
    let value = match params {
        [value] => number(value)?,
        [part, total] => match (number(part)?, number(total)?) {
            (Some(part), Some(total)) if total != 0.0 => Some(part * 100.0 / total),
            _ => None,
        },
        _ => {
            return Err(HelperError::Arity {
                takes: "1 or 2 arguments",
                got: params.len(),
            });
        }
    };
    Ok(value.map_or_else(unknown, |p| Value::String(format_percent(p))))
}

/// `{{duration 123456}}` → `2m 03s`
fn duration(params: &[&Value], hash: &Hash) -> Result<Value, HelperError> {
    no_hash(hash)?;
    let [value] = arity(params)?;
    Ok(number(value)?.map_or_else(unknown, |ms| Value::String(format_duration(ms))))
}

fn padded(params: &[&Value], hash: &Hash, right_align: bool) -> Result<Value, HelperError> {
    no_hash(hash)?;
    let [value, width] = arity(params)?;
    let text = text(value)?;
    let width = count(width, "the width", 1000)?;
    let fill = " ".repeat(width.saturating_sub(text.chars().count()));
    Ok(Value::String(if right_align {
        fill + &text
    } else {
        text + &fill
    }))
}

/// `{{pad name 12}}` → `name` followed by spaces up to 12 characters (left-aligned).
fn pad(params: &[&Value], hash: &Hash) -> Result<Value, HelperError> {
    padded(params, hash, false)
}

/// `{{rpad (bytes used) 9}}` → spaces, then the value, 9 characters in all (right-aligned).
fn rpad(params: &[&Value], hash: &Hash) -> Result<Value, HelperError> {
    padded(params, hash, true)
}

/// `{{indent stdout 4}}` → every non-empty line indented by 4 spaces (the default).
fn indent(params: &[&Value], hash: &Hash) -> Result<Value, HelperError> {
    no_hash(hash)?;
    let (value, width) = match params {
        [value] => (text(value)?, 4),
        [value, width] => (text(value)?, count(width, "the indent", 1000)?),
        _ => {
            return Err(HelperError::Arity {
                takes: "1 or 2 arguments",
                got: params.len(),
            });
        }
    };
    let prefix = " ".repeat(width);
    let mut out = String::with_capacity(value.len());
    for line in value.split_inclusive('\n') {
        if line.trim_end_matches(['\n', '\r']).is_empty() {
            out.push_str(line);
        } else {
            out.push_str(&prefix);
            out.push_str(line);
        }
    }
    Ok(Value::String(out))
}

/// `{{truncate description 20}}` → at most 20 characters, ending in `…` when cut.
fn truncate(params: &[&Value], hash: &Hash) -> Result<Value, HelperError> {
    no_hash(hash)?;
    let [value, limit] = arity(params)?;
    let value = text(value)?;
    let limit = count(limit, "the length", u64::from(u32::MAX))?;
    if value.chars().count() <= limit {
        return Ok(Value::String(value));
    }
    let mut cut: String = value.chars().take(limit.saturating_sub(1)).collect();
    if limit > 0 {
        cut.push('…');
    }
    Ok(Value::String(cut))
}

/// `{{bar 70}}` → `[#######---] 70%`; `width=20` for a longer bar.
fn bar(params: &[&Value], hash: &Hash) -> Result<Value, HelperError> {
    let mut width = 10;
    for (key, value) in hash {
        match key.as_str() {
            "width" => width = count(value, "the width", 200)?.max(1),
            _ => return Err(HelperError::BarOption(key.clone())),
        }
    }
    let [value] = arity(params)?;
    let Some(percent) = number(value)? else {
        return Ok(unknown());
    };
    let filled = ((percent.clamp(0.0, 100.0) / 100.0 * width as f64).round() as usize).min(width);
    Ok(Value::String(format!(
        "[{}{}] {}",
        "#".repeat(filled),
        "-".repeat(width - filled),
        format_percent(percent)
    )))
}

/// `{{upper status}}` → `OK`
fn upper(params: &[&Value], hash: &Hash) -> Result<Value, HelperError> {
    no_hash(hash)?;
    let [value] = arity(params)?;
    Ok(Value::String(text(value)?.to_uppercase()))
}

/// `{{lower host.os}}`
fn lower(params: &[&Value], hash: &Hash) -> Result<Value, HelperError> {
    no_hash(hash)?;
    let [value] = arity(params)?;
    Ok(Value::String(text(value)?.to_lowercase()))
}

/// `(eq status "ok")`: numbers compare by value (`1` equals `1.0`), everything else exactly.
fn eq(params: &[&Value], hash: &Hash) -> Result<Value, HelperError> {
    no_hash(hash)?;
    let [a, b] = arity(params)?;
    let equal = match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    };
    Ok(Value::Bool(equal))
}

/// Orders two values: numbers (or texts that are numbers) by value, other texts
/// alphabetically; `None` when either is `null`.
fn compare(params: &[&Value], hash: &Hash) -> Result<Option<std::cmp::Ordering>, HelperError> {
    no_hash(hash)?;
    let [a, b] = arity(params)?;
    if a.is_null() || b.is_null() {
        return Ok(None);
    }
    if let (Ok(Some(x)), Ok(Some(y))) = (number(a), number(b)) {
        return Ok(x.partial_cmp(&y));
    }
    match (a, b) {
        (Value::String(x), Value::String(y)) => Ok(Some(x.cmp(y))),
        _ => Err(HelperError::Compare(shown(a), shown(b))),
    }
}

/// `(gt percent 90)`; false when either side is `null`.
fn gt(params: &[&Value], hash: &Hash) -> Result<Value, HelperError> {
    Ok(Value::Bool(
        compare(params, hash)?.is_some_and(|o| o.is_gt()),
    ))
}

/// `(lt load.one cpus)`; false when either side is `null`.
fn lt(params: &[&Value], hash: &Hash) -> Result<Value, HelperError> {
    Ok(Value::Bool(
        compare(params, hash)?.is_some_and(|o| o.is_lt()),
    ))
}

/// Truth as `#if` sees it: `null`, `false`, `0`, `""` and `[]` are false.
fn truthy(value: &Value) -> bool {
    value.is_truthy(false)
}

fn at_least_one(params: &[&Value]) -> Result<(), HelperError> {
    if params.is_empty() {
        return Err(HelperError::Arity {
            takes: "at least 1 argument",
            got: 0,
        });
    }
    Ok(())
}

/// `(and summary.all_ok (not run.interrupted))`
fn and(params: &[&Value], hash: &Hash) -> Result<Value, HelperError> {
    no_hash(hash)?;
    at_least_one(params)?;
    Ok(Value::Bool(params.iter().all(|v| truthy(v))))
}

/// `(or failed timeout)`
fn or(params: &[&Value], hash: &Hash) -> Result<Value, HelperError> {
    no_hash(hash)?;
    at_least_one(params)?;
    Ok(Value::Bool(params.iter().any(|v| truthy(v))))
}

/// `(not summary.all_ok)`
fn not(params: &[&Value], hash: &Hash) -> Result<Value, HelperError> {
    no_hash(hash)?;
    let [value] = arity(params)?;
    Ok(Value::Bool(!truthy(value)))
}

/// `{{status_symbol status}}` → `✔` ok, `✘` failed, `⌛` timeout, `⚠` error.
fn status_symbol(params: &[&Value], hash: &Hash) -> Result<Value, HelperError> {
    no_hash(hash)?;
    let [value] = arity(params)?;
    let symbol = match value {
        Value::Null => UNKNOWN,
        Value::String(s) if s == "ok" => "✔",
        Value::String(s) if s == "failed" => "✘",
        Value::String(s) if s == "timeout" => "⌛",
        Value::String(s) if s == "error" => "⚠",
        _ => {
            return Err(HelperError::Status(shown(value)));
        }
    };
    Ok(Value::String(symbol.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn registry() -> Handlebars<'static> {
        let mut registry = Handlebars::new();
        registry.set_strict_mode(true);
        registry.register_escape_fn(handlebars::no_escape);
        register(&mut registry);
        registry
    }

    fn render(template: &str, data: Value) -> String {
        let mut registry = registry();
        registry.register_template_string("t", template).unwrap();
        registry
            .render("t", &data)
            .unwrap_or_else(|e| panic!("{template}: {e}"))
    }

    /// The error of rendering `template` (named `t`), as `t:LINE: REASON`.
    fn error(template: &str, data: Value) -> String {
        let mut registry = registry();
        registry.register_template_string("t", template).unwrap();
        let e = registry.render("t", &data).unwrap_err();
        format!(
            "{}:{}: {}",
            e.template_name.as_deref().unwrap_or("?"),
            e.line_no.unwrap_or(0),
            e.reason()
        )
    }

    #[test]
    fn bytes_in_binary_units() {
        let cases = [
            (json!(0), "0 B"),
            (json!(1023), "1023 B"),
            (json!(1024), "1.0 KiB"),
            (json!(1_610_612_736_u64), "1.5 GiB"),
            (json!(10 * 1024 * 1024), "10 MiB"),
            (json!(1024 * 1024 - 10), "1.0 MiB"),
            (json!(252_u64 << 30), "252 GiB"),
            (json!(-1536), "-1.5 KiB"),
            (json!(u64::MAX), "16 EiB"),
            (json!(1e300), "8.7e281 EiB"),
            (json!("2048"), "2.0 KiB"),
            (json!(null), "-"),
        ];
        for (value, expected) in cases {
            assert_eq!(render("{{bytes v}}", json!({"v": value})), expected);
        }
    }

    #[test]
    fn percent_of_a_number_or_a_part() {
        assert_eq!(render("{{percent 70}}", json!({})), "70%");
        assert_eq!(render("{{percent 70.46}}", json!({})), "70.5%");
        assert_eq!(render("{{percent 1 3}}", json!({})), "33.3%");
        assert_eq!(render("{{percent -5}}", json!({})), "-5%");
        assert_eq!(render("{{percent 5 0}}", json!({})), "-");
        assert_eq!(render("{{percent v}}", json!({"v": null})), "-");
        assert_eq!(render("{{percent \" 12 \"}}", json!({})), "12%");
    }

    #[test]
    fn durations_show_the_two_largest_units() {
        let cases = [
            (json!(0), "0ms"),
            (json!(850), "850ms"),
            (json!(1500), "1.5s"),
            (json!(59_999), "1m 00s"),
            (json!(123_456), "2m 03s"),
            (json!(3_720_000), "1h 02m"),
            (json!(273_600_000_u64), "3d 04h"),
            (json!(-123_456), "-2m 03s"),
            (json!(u64::MAX), "213503982334d 14h"),
            (json!(null), "-"),
        ];
        for (value, expected) in cases {
            assert_eq!(render("{{duration v}}", json!({"v": value})), expected);
        }
    }

    #[test]
    fn pad_aligns_columns() {
        let data = json!({"name": "/", "n": 42, "wide": "ünïcode"});
        assert_eq!(render("[{{pad name 4}}]", data.clone()), "[/   ]");
        assert_eq!(render("[{{rpad n 5}}]", data.clone()), "[   42]");
        assert_eq!(render("[{{pad wide 8}}]", data.clone()), "[ünïcode ]");
        assert_eq!(render("[{{pad wide 2}}]", data.clone()), "[ünïcode]");
        assert_eq!(render("[{{rpad (bytes 2048) 9}}]", data), "[  2.0 KiB]");
        assert_eq!(render("[{{pad v 2}}]", json!({"v": null})), "[  ]");
    }

    #[test]
    fn indent_and_truncate() {
        let data = json!({"out": "a\n\nb\n", "long": "abcdefghij"});
        assert_eq!(render("{{indent out}}", data.clone()), "    a\n\n    b\n");
        assert_eq!(render("{{indent out 1}}", data.clone()), " a\n\n b\n");
        assert_eq!(render("{{truncate long 5}}", data.clone()), "abcd…");
        assert_eq!(render("{{truncate long 10}}", data.clone()), "abcdefghij");
        assert_eq!(render("{{truncate long 0}}", data.clone()), "");
        assert_eq!(render("{{truncate \"ééé\" 2}}", data), "é…");
    }

    #[test]
    fn bars() {
        assert_eq!(render("{{bar 70}}", json!({})), "[#######---] 70%");
        assert_eq!(render("{{bar 0}}", json!({})), "[----------] 0%");
        assert_eq!(render("{{bar 120}}", json!({})), "[##########] 120%");
        assert_eq!(render("{{bar -3}}", json!({})), "[----------] -3%");
        assert_eq!(render("{{bar 50 width=4}}", json!({})), "[##--] 50%");
        assert_eq!(render("{{bar v}}", json!({"v": null})), "-");
    }

    #[test]
    fn case() {
        assert_eq!(
            render("{{upper s}} {{lower s}}", json!({"s": "Ok"})),
            "OK ok"
        );
        assert_eq!(render("{{upper 5}}", json!({})), "5");
    }

    #[test]
    fn logic() {
        let data = json!({"p": 93, "s": "ok", "n": null, "t": "93"});
        let cases = [
            ("{{#if (gt p 90)}}y{{else}}n{{/if}}", "y"),
            ("{{#if (lt p 90)}}y{{else}}n{{/if}}", "n"),
            ("{{#if (gt t 100)}}y{{else}}n{{/if}}", "n"),
            ("{{#if (gt n 1)}}y{{else}}n{{/if}}", "n"),
            ("{{#if (lt \"a\" \"b\")}}y{{else}}n{{/if}}", "y"),
            ("{{#if (eq s \"ok\")}}y{{else}}n{{/if}}", "y"),
            ("{{#if (eq p 93.0)}}y{{else}}n{{/if}}", "y"),
            ("{{#if (eq p \"93\")}}y{{else}}n{{/if}}", "n"),
            ("{{#if (and p s)}}y{{else}}n{{/if}}", "y"),
            ("{{#if (and p n)}}y{{else}}n{{/if}}", "n"),
            ("{{#if (or n 0 s)}}y{{else}}n{{/if}}", "y"),
            ("{{#if (not n)}}y{{else}}n{{/if}}", "y"),
            ("{{not 0}}", "true"),
        ];
        for (template, expected) in cases {
            assert_eq!(render(template, data.clone()), expected, "{template}");
        }
    }

    #[test]
    fn status_symbols() {
        assert_eq!(
            render(
                "{{status_symbol \"ok\"}}{{status_symbol \"failed\"}}{{status_symbol \"timeout\"}}{{status_symbol \"error\"}}{{status_symbol n}}",
                json!({"n": null})
            ),
            "✔✘⌛⚠-"
        );
    }

    #[test]
    fn odd_inputs_are_errors_with_template_and_line() {
        let cases = [
            (
                "{{bytes s}}",
                json!({"s": "lots"}),
                "`bytes`: expected a number, got \"lots\"",
            ),
            (
                "{{bytes b}}",
                json!({"b": true}),
                "`bytes`: expected a number, got true",
            ),
            (
                "{{percent l}}",
                json!({"l": [1, 2]}),
                "`percent`: expected a number, got [1,2]",
            ),
            (
                "{{percent 1 2 3}}",
                json!({}),
                "`percent`: takes 1 or 2 arguments, got 3",
            ),
            (
                "{{duration \"NaN\"}}",
                json!({}),
                "`duration`: expected a number, got \"NaN\"",
            ),
            (
                "{{duration 1 2}}",
                json!({}),
                "`duration`: takes 1 argument, got 2",
            ),
            (
                "{{pad \"x\" -1}}",
                json!({}),
                "`pad`: the width must be a whole number from 0 to 1000, got -1",
            ),
            (
                "{{rpad o 3}}",
                json!({"o": {"a": 1}}),
                "`rpad`: expected text, got {\"a\":1}",
            ),
            (
                "{{truncate \"x\" 1.5}}",
                json!({}),
                "`truncate`: the length must be a whole number from 0 to 4294967295, got 1.5",
            ),
            (
                "{{bar 5 size=3}}",
                json!({}),
                "`bar`: unknown option `size` (expected `width`)",
            ),
            (
                "{{#if (gt p \"high\")}}{{/if}}",
                json!({"p": 5}),
                "`gt`: cannot compare 5 with \"high\"",
            ),
            (
                "{{and}}",
                json!({}),
                "`and`: takes at least 1 argument, got 0",
            ),
            (
                "{{status_symbol \"fine\"}}",
                json!({}),
                "`status_symbol`: unknown status \"fine\" (expected \"ok\", \"failed\", \"timeout\" or \"error\")",
            ),
            (
                "{{bytes s}}",
                json!({"s": "x".repeat(100)}),
                "`bytes`: expected a number, got \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx…",
            ),
        ];
        for (template, data, reason) in cases {
            let shown = error(&format!("line one\n{template}"), data);
            assert_eq!(shown, format!("t:2: {reason}"), "{template}");
        }
    }

    #[test]
    fn misspelt_arguments_are_still_strict_errors() {
        let shown = error("{{bytes totl}}", json!({"total": 1}));
        assert!(shown.contains("totl"), "{shown}");
    }
}
