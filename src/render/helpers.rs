//! Template helpers (reporter-templates(7)): sizes, percentages and durations for people, column
//! alignment for monospace mail, usage bars, the comparisons templates branch on, and the
//! few list and text helpers a subject needs to name the worst finding (`worst`,
//! `max_by`, `lines`, `line`, `field`, `group_by`, `plural`).
//!
//! Every helper returns a value, so each works both as `{{bytes total}}` and inside a
//! subexpression, `{{#if (gt percent 90)}}`. `null` (a value that is not known, such as the
//! exit code of a killed command) formats as `-`; anything else that is not what a helper
//! expects is a render error naming the helper and the value, which the template stage
//! reports with the template's file and line.
//!
//! Which helpers exist, what each gives and an example of each are in one table
//! ([`ALL`]), which registration, `check` and reporter-templates(7) read.

use handlebars::{
    Context, Handlebars, Helper, HelperDef, JsonTruthy, RenderContext, RenderError,
    RenderErrorReason, ScopedJson,
};
use serde_json::Value;

use crate::report::format::{format_bytes, format_duration, format_percent};

mod lists;
mod table;

pub use table::{ALL, Definition, EXAMPLE_CONTEXT, Gives, find};

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
    #[error("unknown option `{key}` (expected `{expected}`)")]
    NamedOption { key: String, expected: &'static str },
    #[error("{0} must be true or false, got {1}")]
    Boolean(&'static str, String),
    #[error("cannot compare {0} with {1}")]
    Compare(String, String),
    #[error("unknown status {0} (expected \"ok\", \"failed\", \"timeout\" or \"error\")")]
    Status(String),
    #[error("expected a list, got {0}")]
    List(String),
    #[error("expected a field name or number, got {0}")]
    Key(String),
    #[error("invalid pattern: {0}")]
    Pattern(String),
    #[error("the field number must be a whole number other than 0, got {0}")]
    Field(String),
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
        context: &'rc Context,
        rc: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        if h.params().is_empty()
            && h.hash().is_empty()
            && let Some(value) = variable_named(self.name, context, rc)
        {
            return Ok(ScopedJson::Derived(value));
        }
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

/// The variable `name` of the current context, when there is one: a helper's name alone
/// (`{{count}}` in `{{#each (tally ...)}}`) reads the field, as it would with no helper
/// of that name, since no helper of ours is called without arguments.
fn variable_named<'rc>(
    name: &str,
    context: &'rc Context,
    rc: &RenderContext<'_, 'rc>,
) -> Option<Value> {
    let found = |scoped: ScopedJson<'_>| (!scoped.is_missing()).then(|| scoped.as_json().clone());
    match rc.context() {
        Some(own) => found(rc.evaluate(&own, name).ok()?),
        None => found(rc.evaluate(context, name).ok()?),
    }
}

/// Registers the helpers of [`ALL`] that are not Handlebars' own, replacing its
/// comparisons, which treat a number compared with text as simply false.
pub fn register(registry: &mut Handlebars<'_>) {
    for helper in ALL {
        if let Some(apply) = helper.apply {
            let name = helper.name;
            registry.register_helper(name, Box::new(ValueHelper { name, apply }));
        }
    }
}

/// `{"text": {{json stdout}}}`: the value JSON-encoded, for webhook bodies
/// (`NAME.json.hbs`, docs/monitoring.md).
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
        takes: match N {
            1 => "1 argument",
            2 => "2 arguments",
            _ => "3 arguments",
        },
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
    Ok(number(value)?.map_or_else(unknown, |n| Value::String(bytes_as_df(n))))
}

/// Binary units rounded up, as `df -h` rounds (one decimal below 10, whole numbers
/// above), so a table agrees with the `df -h` output printed under it: 77.3 GiB is
/// `78 GiB` in both.
fn bytes_as_df(bytes: f64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let sign = if bytes < 0.0 { "-" } else { "" };
    let value = bytes.abs();
    if value < 1024.0 {
        return format!("{sign}{} B", value.ceil());
    }
    if value >= 1e6 * 1024f64.powi(6) {
        // Only floats get here (u64::MAX is 16 EiB): keep the text short.
        return format_bytes(bytes);
    }
    // Dividing by a power of two is exact, so whole byte counts round up exactly.
    let mut unit = 0;
    let mut scale = 1024.0;
    while unit + 1 < UNITS.len() && value / scale >= 1024.0 {
        unit += 1;
        scale *= 1024.0;
    }
    loop {
        let tenths = (value * 10.0 / scale).ceil();
        if tenths < 100.0 {
            return format!("{sign}{:.1} {}", tenths / 10.0, UNITS[unit]);
        }
        let whole = (value / scale).ceil();
        if whole >= 1024.0 && unit + 1 < UNITS.len() {
            unit += 1;
            scale *= 1024.0;
            continue;
        }
        return format!("{sign}{whole:.0} {}", UNITS[unit]);
    }
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

/// `{{sparkline trend}}` → `▁▃▅█`: each number of the list (a percentage, clamped at 0
/// and 100) as one of eight bars; `null` items as a space.
fn sparkline(params: &[&Value], hash: &Hash) -> Result<Value, HelperError> {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    no_hash(hash)?;
    let [value] = arity(params)?;
    let mut line = String::new();
    for item in list(value)? {
        line.push(match number(item)? {
            Some(percent) => {
                let step = (percent.clamp(0.0, 100.0) / 100.0 * 7.0).round() as usize;
                BARS[step.min(7)]
            }
            None => ' ',
        });
    }
    Ok(Value::String(line))
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

/// `(ne status "ok")`: not [`eq`].
fn ne(params: &[&Value], hash: &Hash) -> Result<Value, HelperError> {
    Ok(Value::Bool(eq(params, hash)? == Value::Bool(false)))
}

/// `(gt percent 90)`; false when either side is `null`.
fn gt(params: &[&Value], hash: &Hash) -> Result<Value, HelperError> {
    Ok(Value::Bool(
        compare(params, hash)?.is_some_and(|o| o.is_gt()),
    ))
}

/// `(gte percent 90)`; false when either side is `null`.
fn gte(params: &[&Value], hash: &Hash) -> Result<Value, HelperError> {
    Ok(Value::Bool(
        compare(params, hash)?.is_some_and(|o| o.is_ge()),
    ))
}

/// `(lt load.one cpus)`; false when either side is `null`.
fn lt(params: &[&Value], hash: &Hash) -> Result<Value, HelperError> {
    Ok(Value::Bool(
        compare(params, hash)?.is_some_and(|o| o.is_lt()),
    ))
}

/// `(lte load.one cpus)`; false when either side is `null`.
fn lte(params: &[&Value], hash: &Hash) -> Result<Value, HelperError> {
    Ok(Value::Bool(
        compare(params, hash)?.is_some_and(|o| o.is_le()),
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

/// `{{plural summary.total "command"}}` → `1 command`, `3 commands`; an irregular plural
/// as a third argument: `{{plural n "address" "addresses"}}`.
fn plural(params: &[&Value], hash: &Hash) -> Result<Value, HelperError> {
    no_hash(hash)?;
    let (n, one, many) = match params {
        [n, one] => (n, text(one)?, None),
        [n, one, many] => (n, text(one)?, Some(text(many)?)),
        _ => {
            return Err(HelperError::Arity {
                takes: "2 or 3 arguments",
                got: params.len(),
            });
        }
    };
    let Some(n) = number(n)? else {
        return Ok(unknown());
    };
    let word = if n == 1.0 {
        one
    } else {
        many.unwrap_or_else(|| format!("{one}s"))
    };
    Ok(Value::String(format!("{} {word}", trim_number(n))))
}

/// A number as written: `3`, not `3.0`.
fn trim_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        n.to_string()
    }
}

/// `{{fixed host.load.one 2}}` → `1.80`: exactly DIGITS decimals (as `uptime` prints load).
fn fixed(params: &[&Value], hash: &Hash) -> Result<Value, HelperError> {
    no_hash(hash)?;
    let [value, digits] = arity(params)?;
    let digits = count(digits, "the number of decimals", 10)?;
    Ok(number(value)?.map_or_else(unknown, |n| Value::String(format!("{n:.digits$}"))))
}

/// A list argument; `null` is an empty list.
fn list(value: &Value) -> Result<&[Value], HelperError> {
    match value {
        Value::Array(items) => Ok(items),
        Value::Null => Ok(&[]),
        _ => Err(HelperError::List(shown(value))),
    }
}

/// How bad a status is, for `worst`: error > timeout > failed > ok.
fn severity(status: &Value) -> u8 {
    match status.as_str() {
        Some("error") => 3,
        Some("timeout") => 2,
        Some("failed") => 1,
        _ => 0,
    }
}

/// `{{#with (worst results)}}{{name}}: {{status}}{{/with}}`: the first result with the
/// worst status (the one `summary.status` names); `null` for an empty list.
fn worst(params: &[&Value], hash: &Hash) -> Result<Value, HelperError> {
    no_hash(hash)?;
    let [items] = arity(params)?;
    let mut found: Option<&Value> = None;
    for item in list(items)? {
        let status = item.get("status").unwrap_or(&Value::Null);
        if found.is_none_or(|f| severity(status) > severity(&f["status"])) {
            found = Some(item);
        }
    }
    Ok(found.cloned().unwrap_or(Value::Null))
}

/// What `max_by` and `group_by` compare an item by: a field of an object (KEY a name), or
/// field N of a line of text (KEY a number, as `field`).
fn key_of(item: &Value, key: &Value) -> Result<Value, HelperError> {
    match key {
        Value::String(name) => Ok(item.get(name).cloned().unwrap_or(Value::Null)),
        Value::Number(_) => Ok(Value::String(nth_field(&text(item)?, key)?)),
        _ => Err(HelperError::Key(shown(key))),
    }
}

/// `{{#with (max_by host.disks "percent")}}{{mount}}{{/with}}`: the item whose KEY is the
/// largest number (the first of equals); for lines of text, KEY is a field number and
/// `95%` counts as 95: `(max_by matches -2)` is the fullest line of `df`. `null` when no
/// item has a number there.
fn max_by(params: &[&Value], hash: &Hash) -> Result<Value, HelperError> {
    no_hash(hash)?;
    let [items, key] = arity(params)?;
    let mut best: Option<(f64, &Value)> = None;
    for item in list(items)? {
        let value = key_of(item, key)?;
        let n = match &value {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().trim_end_matches('%').parse::<f64>().ok(),
            _ => None,
        };
        if let Some(n) = n.filter(|n| n.is_finite())
            && best.is_none_or(|(b, _)| n > b)
        {
            best = Some((n, item));
        }
    }
    Ok(best.map_or(Value::Null, |(_, item)| item.clone()))
}

/// `{{#each (group_by results "stderr")}}{{count}} × {{value}}{{/each}}`: the items with
/// the same KEY together, in the order each KEY first appears: `{value, count, items}`.
fn group_by(params: &[&Value], hash: &Hash) -> Result<Value, HelperError> {
    no_hash(hash)?;
    let [items, key] = arity(params)?;
    let mut groups: Vec<(Value, Vec<Value>)> = Vec::new();
    // Each group's place, by its value's JSON text (equal texts, equal values): a list of
    // many distinct values is grouped in one pass, not against every group found so far.
    let mut places: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for item in list(items)? {
        let value = key_of(item, key)?;
        let at = *places.entry(value.to_string()).or_insert_with(|| {
            groups.push((value, Vec::new()));
            groups.len() - 1
        });
        groups[at].1.push(item.clone());
    }
    Ok(Value::Array(
        groups
            .into_iter()
            .map(|(value, items)| serde_json::json!({"value": value, "count": items.len(), "items": items}))
            .collect(),
    ))
}

/// `{{len (lines stdout "^(tcp|udp)")}}`: the non-empty lines of TEXT (those matching the
/// regular expression PATTERN, when given), as a list.
fn lines(params: &[&Value], hash: &Hash) -> Result<Value, HelperError> {
    no_hash(hash)?;
    let (value, pattern) = match params {
        [value] => (text(value)?, None),
        [value, pattern] => (text(value)?, Some(lists::pattern(pattern)?)),
        _ => {
            return Err(HelperError::Arity {
                takes: "1 or 2 arguments",
                got: params.len(),
            });
        }
    };
    Ok(Value::Array(
        value
            .lines()
            .filter(|l| !l.trim().is_empty())
            .filter(|l| pattern.as_ref().is_none_or(|p| p.is_match(l)))
            .map(|l| Value::String(l.to_owned()))
            .collect(),
    ))
}

/// Item N of `items` counted from 1, or from the end when negative (-1 is the last).
fn nth<'a, T>(items: &'a [T], n: &Value) -> Result<Option<&'a T>, HelperError> {
    let n = n
        .as_i64()
        .or_else(|| n.as_str()?.trim().parse().ok())
        .filter(|n| *n != 0)
        .ok_or_else(|| HelperError::Field(shown(n)))?;
    let at = if n > 0 {
        usize::try_from(n - 1).ok()
    } else {
        items
            .len()
            .checked_sub(usize::try_from(-n).unwrap_or(usize::MAX))
    };
    Ok(at.and_then(|at| items.get(at)))
}

/// `{{line stdout 2}}`: line N of TEXT (from 1; -1 is the last); empty when there is none.
fn line(params: &[&Value], hash: &Hash) -> Result<Value, HelperError> {
    no_hash(hash)?;
    let [value, n] = arity(params)?;
    let value = text(value)?;
    let all: Vec<&str> = value.lines().collect();
    Ok(Value::String(
        nth(&all, n)?.map_or_else(String::new, |l| (*l).to_owned()),
    ))
}

fn nth_field(text: &str, n: &Value) -> Result<String, HelperError> {
    let fields: Vec<&str> = text.split_whitespace().collect();
    Ok(nth(&fields, n)?.map_or_else(String::new, |f| (*f).to_owned()))
}

/// `{{field "/dev/sda1 100G 95G 5G 95% /data" -1}}` → `/data`: field N of TEXT split at
/// whitespace, as awk's `$N` (from 1; -1 is the last); empty when there is none.
fn field(params: &[&Value], hash: &Hash) -> Result<Value, HelperError> {
    no_hash(hash)?;
    let [value, n] = arity(params)?;
    Ok(Value::String(nth_field(&text(value)?, n)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_example_renders_what_the_table_says() {
        let context: Value = serde_json::from_str(EXAMPLE_CONTEXT).unwrap();
        let mut names = std::collections::HashSet::new();
        for helper in ALL {
            assert!(names.insert(helper.name), "{} twice", helper.name);
            assert!(
                helper.usage.contains(helper.name) && helper.example.contains(helper.name),
                "{}: its usage and example call it",
                helper.name
            );
            assert_eq!(
                render(helper.example, context.clone()),
                helper.output,
                "{}: {}",
                helper.name,
                helper.example
            );
        }
        assert_eq!(find("bytes").map(|h| h.gives), Some(Gives::Scalar));
        assert!(find("frobnicate").is_none());
    }

    #[test]
    fn ne_gte_and_lte_compare_as_eq_gt_and_lt() {
        let data = json!({"n": null, "t": "93"});
        let cases = [
            (
                "{{ne 1 1.0}} {{ne \"ok\" \"failed\"}} {{ne t 93}}",
                "false true true",
            ),
            ("{{gte t 93}} {{gte 92 t}} {{gte n 1}}", "true false false"),
            (
                "{{lte \"a\" \"b\"}} {{lte 94 t}} {{lte 1 n}}",
                "true false false",
            ),
        ];
        for (template, expected) in cases {
            assert_eq!(render(template, data.clone()), expected, "{template}");
        }
        assert_eq!(
            error("{{gte 5 \"high\"}}", json!({})),
            "t:1: `gte`: cannot compare 5 with \"high\""
        );
    }

    #[test]
    fn plurals_and_fixed_decimals() {
        let cases = [
            ("{{plural 1 \"command\"}}", "1 command"),
            ("{{plural 0 \"command\"}}", "0 commands"),
            ("{{plural 3 \"command\"}}", "3 commands"),
            ("{{plural 2 \"address\" \"addresses\"}}", "2 addresses"),
            ("{{plural (len l) \"line\"}}", "2 lines"),
            ("{{fixed 1.8 2}}", "1.80"),
            ("{{fixed 0 2}}", "0.00"),
            ("{{fixed 2.345 1}}", "2.3"),
            ("{{fixed n 2}}", "-"),
        ];
        for (template, expected) in cases {
            let data = json!({"l": ["a", "b"], "n": null});
            assert_eq!(render(template, data), expected, "{template}");
        }
    }

    #[test]
    fn lists_and_lines_for_subjects() {
        let data = json!({
            "results": [{"name": "a", "status": "ok"}, {"name": "b", "status": "failed"},
                {"name": "c", "status": "error"}, {"name": "d", "status": "error"}],
            "disks": [{"mount": "/", "percent": 40}, {"mount": "/data", "percent": 95.5},
                {"mount": "/srv", "percent": 95.5}],
            "matches": ["/dev/a 100G 91G 9G 91% /", "/dev/b 10G 9.7G 300M 97% /data", "junk"],
            "out": "Netid State\ntcp LISTEN 0.0.0.0:22\n\nudp UNCONN *:68\n",
            "empty": [],
        });
        let cases = [
            ("{{#with (worst results)}}{{name}}{{/with}}", "c"),
            ("{{#with (worst empty)}}x{{else}}none{{/with}}", "none"),
            (
                "{{#with (max_by disks \"percent\")}}{{mount}}{{/with}}",
                "/data",
            ),
            ("{{field (max_by matches -2) -1}}", "/data"),
            ("{{field (max_by matches 5) 5}}", "97%"),
            (
                "{{#with (max_by empty \"x\")}}x{{else}}none{{/with}}",
                "none",
            ),
            ("{{len (lines out)}}", "3"),
            ("{{len (lines out \"^(tcp|udp)\")}}", "2"),
            ("{{line out 2}}", "tcp LISTEN 0.0.0.0:22"),
            ("{{line out -1}}", "udp UNCONN *:68"),
            ("[{{line out 9}}]", "[]"),
            (
                "{{field \"a b  c\" 2}}|{{field \"a b c\" -1}}|{{field \"a\" 3}}",
                "b|c|",
            ),
            (
                "{{#each (group_by results \"status\")}}{{count}}×{{value}}({{#each items}}{{name}}{{/each}}) {{/each}}",
                "1×ok(a) 1×failed(b) 2×error(cd) ",
            ),
        ];
        for (template, expected) in cases {
            assert_eq!(render(template, data.clone()), expected, "{template}");
        }
        let errors = [
            (
                "{{field \"a\" 0}}",
                "`field`: the field number must be a whole number other than 0, got 0",
            ),
            ("{{lines \"a\" \"(\"}}", "`lines`: invalid pattern: "),
            ("{{worst \"a\"}}", "`worst`: expected a list, got \"a\""),
            ("{{plural 1}}", "`plural`: takes 2 or 3 arguments, got 1"),
        ];
        for (template, reason) in errors {
            let shown = error(template, json!({}));
            assert!(
                shown.starts_with(&format!("t:1: {reason}")),
                "{template}: {shown}"
            );
        }
    }

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
            (json!(1025), "1.1 KiB"),
            (json!(83_000_000_000_u64), "78 GiB"),
            (json!(10 * 1024 * 1024 - 1), "10 MiB"),
            (json!(9 * 1024 * 1024 + 1), "9.1 MiB"),
            (json!(1024 * 1024 * 1024 - 1), "1.0 GiB"),
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
    fn sparklines() {
        assert_eq!(
            render(
                "{{sparkline t}}",
                json!({"t": [0, 14.3, 50, 71.4, 100, 120, -5]})
            ),
            "▁▂▅▆██▁"
        );
        assert_eq!(
            render("{{sparkline t}}", json!({"t": [10, null, "90"]})),
            "▂ ▇"
        );
        assert_eq!(render("{{sparkline t}}", json!({"t": []})), "");
        assert!(
            error("{{sparkline 5}}", json!({})).contains("`sparkline`: expected a list, got 5"),
            "{}",
            error("{{sparkline 5}}", json!({}))
        );
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
