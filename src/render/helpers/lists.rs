//! Helpers for lists of objects, such as the JSON entries a command prints
//! (`journalctl -o json`): filter (`where`), count, add up (`sum`), order (`sort_by`),
//! cut (`take`), and the distinct values of a field with (`tally`) or without (`unique`)
//! how often each occurs; and `capture`, a part of a text found by a regular expression.
//!
//! Each returns a new value and none fails on a missing field: it is null, like a field
//! that holds null. A FIELD is a key (`_SYSTEMD_UNIT`), or a path of keys joined by dots
//! (`source.ip`) when no key is the whole of it; whole numbers in a path pick an item of
//! a list (`tags.0`); an empty FIELD is the item itself, for lists of text. The work is
//! bounded: one pass over the list (hash maps keyed by a value's JSON text for `unique`
//! and `tally`), or one sort for `sort_by`.

use std::cmp::Ordering;
use std::collections::HashMap;

use serde_json::Value;

use super::{Hash, HelperError, arity, count, list, no_hash, text};

/// The compiled size a pattern may take (the regex crate's unit): far above any pattern
/// written by hand, far below what a template could make the renderer build otherwise.
const PATTERN_SIZE_LIMIT: usize = 1 << 20;

/// A regular expression argument, compiled once per call within [`PATTERN_SIZE_LIMIT`].
pub(super) fn pattern(value: &Value) -> Result<regex::Regex, HelperError> {
    regex::RegexBuilder::new(&text(value)?)
        .size_limit(PATTERN_SIZE_LIMIT)
        .build()
        .map_err(|e| HelperError::Pattern(pattern_error(&e)))
}

/// The reason a pattern is refused, on one line: a parse error's last line
/// (`unclosed group`) rather than its picture of the pattern, which spans several lines
/// of the log where the template's file and line already say which pattern it is.
fn pattern_error(error: &regex::Error) -> String {
    let shown = error.to_string();
    match error {
        regex::Error::Syntax(_) => shown.lines().last().map_or(shown.clone(), |l| {
            l.trim_start_matches("error: ").to_owned()
        }),
        _ => shown,
    }
}

/// A FIELD argument: text (a number counts as its digits).
fn field_name(value: &Value) -> Result<String, HelperError> {
    text(value)
}

/// The value of `field` in `item`; `None` is null (missing, or below something that is
/// not an object or a list).
fn field_of<'a>(item: &'a Value, field: &str) -> Option<&'a Value> {
    if field.is_empty() {
        return Some(item);
    }
    if let Some(whole) = item.get(field) {
        return Some(whole);
    }
    field.split('.').try_fold(item, |at, key| match at {
        Value::Object(map) => map.get(key),
        Value::Array(items) => items.get(key.parse::<usize>().ok()?),
        _ => None,
    })
}

/// A value as text, for `where`: text as it is, numbers and booleans as their JSON
/// (`404`, `true`), null as empty, lists and objects as compact JSON.
fn as_text(value: Option<&Value>) -> std::borrow::Cow<'_, str> {
    match value {
        None | Some(Value::Null) => "".into(),
        Some(Value::String(s)) => s.as_str().into(),
        Some(other) => other.to_string().into(),
    }
}

/// `(where LIST FIELD REGEX)`: the items whose FIELD, as text, matches REGEX (null is
/// empty text, so `^$` finds the items without the field).
pub(super) fn where_(params: &[&Value], hash: &Hash) -> Result<Value, HelperError> {
    no_hash(hash)?;
    let [items, field, regex] = arity(params)?;
    let items = list(items)?;
    let field = field_name(field)?;
    let regex = pattern(regex)?;
    Ok(Value::Array(
        items
            .iter()
            .filter(|item| regex.is_match(&as_text(field_of(item, &field))))
            .cloned()
            .collect(),
    ))
}

/// `{{count (where list "x" "y")}}`: how many items a list has; null has none.
pub(super) fn count_items(params: &[&Value], hash: &Hash) -> Result<Value, HelperError> {
    no_hash(hash)?;
    let [items] = arity(params)?;
    Ok(Value::from(list(items)?.len()))
}

/// A number to add up: a JSON number, or text that is one (`" 42 "`); whole numbers
/// stay exact.
enum Addend {
    Whole(i128),
    Real(f64),
}

fn addend(value: Option<&Value>) -> Option<Addend> {
    match value? {
        Value::Number(n) => n
            .as_i64()
            .map(|i| Addend::Whole(i.into()))
            .or_else(|| n.as_u64().map(|u| Addend::Whole(u.into())))
            .or_else(|| n.as_f64().map(Addend::Real)),
        Value::String(s) => {
            let s = s.trim();
            s.parse::<i64>()
                .map(|i| Addend::Whole(i.into()))
                .ok()
                .or_else(|| {
                    s.parse::<f64>()
                        .ok()
                        .filter(|f| f.is_finite())
                        .map(Addend::Real)
                })
        }
        _ => None,
    }
}

/// `(sum LIST FIELD)`: the numbers of FIELD added up, texts that are numbers included,
/// anything else skipped; 0 for an empty list. Whole numbers add up exactly.
pub(super) fn sum(params: &[&Value], hash: &Hash) -> Result<Value, HelperError> {
    no_hash(hash)?;
    let [items, field] = arity(params)?;
    let field = field_name(field)?;
    let mut whole: i128 = 0;
    let mut real: Option<f64> = None;
    for item in list(items)? {
        match addend(field_of(item, &field)) {
            Some(Addend::Whole(n)) => whole = whole.saturating_add(n),
            Some(Addend::Real(n)) => *real.get_or_insert(0.0) += n,
            None => {}
        }
    }
    let exact = i64::try_from(whole)
        .map(Value::from)
        .or_else(|_| u64::try_from(whole).map(Value::from));
    Ok(match (real, exact) {
        (None, Ok(total)) => total,
        (real, _) => serde_json::Number::from_f64(real.unwrap_or(0.0) + whole as f64)
            .map_or(Value::Null, Value::Number),
    })
}

/// What `sort_by` orders an item by: numbers (and texts that are numbers) by value,
/// then other texts alphabetically, then false and true, then lists and objects by their
/// JSON; null, always last, is `None`.
#[derive(PartialEq, PartialOrd)]
enum SortKey {
    Number(f64),
    Text(String),
    Bool(bool),
    Other(String),
}

fn sort_key(value: Option<&Value>) -> Option<SortKey> {
    Some(match value? {
        Value::Null => return None,
        Value::Number(n) => SortKey::Number(n.as_f64()?),
        Value::String(s) => match s.trim().parse::<f64>() {
            Ok(n) if n.is_finite() => SortKey::Number(n),
            _ => SortKey::Text(s.clone()),
        },
        Value::Bool(b) => SortKey::Bool(*b),
        other => SortKey::Other(other.to_string()),
    })
}

/// Whether `desc=true` was given; `desc` is the only option.
fn descending(hash: &Hash) -> Result<bool, HelperError> {
    let mut desc = false;
    for (key, value) in hash {
        match (key.as_str(), value) {
            ("desc", Value::Bool(b)) => desc = *b,
            ("desc", other) => return Err(HelperError::Boolean("desc", super::shown(other))),
            _ => {
                return Err(HelperError::NamedOption {
                    key: key.clone(),
                    expected: "desc",
                });
            }
        }
    }
    Ok(desc)
}

/// `(sort_by LIST FIELD [desc=true])`: the items ordered by FIELD, ascending (descending
/// with `desc=true`), items with equal values in the order they came, null last either way.
pub(super) fn sort_by(params: &[&Value], hash: &Hash) -> Result<Value, HelperError> {
    let desc = descending(hash)?;
    let [items, field] = arity(params)?;
    let field = field_name(field)?;
    let mut keyed: Vec<(Option<SortKey>, &Value)> = list(items)?
        .iter()
        .map(|item| (sort_key(field_of(item, &field)), item))
        .collect();
    keyed.sort_by(|(a, _), (b, _)| match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (Some(a), Some(b)) => {
            let order = a.partial_cmp(b).unwrap_or(Ordering::Equal);
            if desc { order.reverse() } else { order }
        }
    });
    Ok(Value::Array(
        keyed.into_iter().map(|(_, item)| item.clone()).collect(),
    ))
}

/// `(take LIST N)`: the first N items (all of them when there are fewer).
pub(super) fn take(params: &[&Value], hash: &Hash) -> Result<Value, HelperError> {
    no_hash(hash)?;
    let [items, n] = arity(params)?;
    let n = count(n, "the number of items", u64::from(u32::MAX))?;
    Ok(Value::Array(list(items)?.iter().take(n).cloned().collect()))
}

/// The distinct values of FIELD in `items`, in the order each first appears, with how
/// many items hold it. Values are the same when their JSON is (`1` and `"1"` are not).
fn distinct(items: &[Value], field: &str) -> Vec<(Value, usize)> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut found: Vec<(Value, usize)> = Vec::new();
    for item in items {
        let value = field_of(item, field).unwrap_or(&Value::Null);
        let at = *seen.entry(value.to_string()).or_insert_with(|| {
            found.push((value.clone(), 0));
            found.len() - 1
        });
        found[at].1 += 1;
    }
    found
}

/// `(unique LIST FIELD)`: the distinct values of FIELD, in the order each first appears
/// (null among them when an item lacks the field).
pub(super) fn unique(params: &[&Value], hash: &Hash) -> Result<Value, HelperError> {
    no_hash(hash)?;
    let [items, field] = arity(params)?;
    let field = field_name(field)?;
    Ok(Value::Array(
        distinct(list(items)?, &field)
            .into_iter()
            .map(|(value, _)| value)
            .collect(),
    ))
}

/// `(tally LIST FIELD)`: `[{value, count}]` for each distinct value of FIELD, the most
/// frequent first, equal counts in the order each value first appears.
pub(super) fn tally(params: &[&Value], hash: &Hash) -> Result<Value, HelperError> {
    no_hash(hash)?;
    let [items, field] = arity(params)?;
    let field = field_name(field)?;
    let mut counted = distinct(list(items)?, &field);
    counted.sort_by(|(_, a), (_, b)| b.cmp(a));
    Ok(Value::Array(
        counted
            .into_iter()
            .map(|(value, count)| serde_json::json!({"value": value, "count": count}))
            .collect(),
    ))
}

/// `(capture TEXT REGEX)`: the first capture group of the first match (the whole match
/// when REGEX has no group); null when nothing matches or the group took no part.
pub(super) fn capture(params: &[&Value], hash: &Hash) -> Result<Value, HelperError> {
    no_hash(hash)?;
    let [value, regex] = arity(params)?;
    let value = text(value)?;
    let regex = pattern(regex)?;
    let group = usize::from(regex.captures_len() > 1);
    Ok(regex
        .captures(&value)
        .and_then(|found| found.get(group))
        .map_or(Value::Null, |m| Value::String(m.as_str().to_owned())))
}

#[cfg(test)]
mod tests {
    use handlebars::Handlebars;
    use serde_json::{Value, json};

    fn attempt(template: &str, data: &Value) -> Result<String, String> {
        let mut registry = Handlebars::new();
        registry.set_strict_mode(true);
        registry.register_escape_fn(handlebars::no_escape);
        super::super::register(&mut registry);
        registry
            .register_template_string("t", template)
            .map_err(|e| e.to_string())?;
        registry
            .render("t", data)
            .map_err(|e| e.reason().to_string())
    }

    fn render(template: &str, data: &Value) -> String {
        attempt(template, data).unwrap_or_else(|e| panic!("{template}: {e}"))
    }

    /// Journal entries as `journalctl -o json` prints them (every value text), and odd ones.
    fn entries() -> Value {
        json!({"log": [
            {"MESSAGE": "Failed password for root from 10.0.0.9 port 22", "_HOSTNAME": "web1", "_PID": "900", "n": 2},
            {"MESSAGE": "Accepted publickey for ann", "_HOSTNAME": "web2", "_PID": "80", "n": "3"},
            {"MESSAGE": "Failed password for bob from 10.0.0.7 port 22", "_HOSTNAME": "web2", "_PID": "1000", "n": 1.5},
            {"MESSAGE": "Failed password for eve from 10.0.0.9 port 22", "_HOSTNAME": "web1", "n": null},
            {"MESSAGE": "no host", "n": "many", "src": {"ip": "10.0.0.1", "tags": ["a", "b"]}},
            {"MESSAGE": 404, "ok": true, "_PID": "9", "n": [1]},
        ], "empty": [], "none": null, "text": "x", "out": "a 1\nb 2\na 3\n"})
    }

    #[test]
    fn where_matches_the_field_as_text() {
        let data = entries();
        let cases = [
            (
                "{{count (where log \"MESSAGE\" \"^Failed password\")}}",
                "3",
            ),
            ("{{count (where log \"MESSAGE\" \"^404$\")}}", "1"),
            ("{{count (where log \"ok\" \"^true$\")}}", "1"),
            ("{{count (where log \"_HOSTNAME\" \"^$\")}}", "2"),
            ("{{count (where log \"_HOSTNAME\" \".\")}}", "4"),
            ("{{count (where log \"n\" \"^$\")}}", "1"),
            ("{{count (where log \"nowhere\" \"x\")}}", "0"),
            (
                "{{#each (where log \"src.ip\" \"^10\")}}{{MESSAGE}}{{/each}}",
                "no host",
            ),
            ("{{count (where log \"src.tags.1\" \"^b$\")}}", "1"),
            ("{{count (where log \"n\" \"^\\\\[1\\\\]$\")}}", "1"),
            (
                "{{count (where empty \"a\" \"b\")}}|{{count (where none \"a\" \"b\")}}",
                "0|0",
            ),
            (
                "{{#each (where (lines out) \"\" \"^a\")}}{{this}};{{/each}}",
                "a 1;a 3;",
            ),
        ];
        for (template, expected) in cases {
            assert_eq!(render(template, &data), expected, "{template}");
        }
        let dotted = json!({"l": [{"a.b": 1, "a": {"b": 2}}, {"a": {"b": 3}}]});
        assert_eq!(
            render(
                "{{#each (where l \"a.b\" \".\")}}{{json this}} {{/each}}",
                &dotted
            ),
            "{\"a\":{\"b\":2},\"a.b\":1} {\"a\":{\"b\":3}} "
        );
        assert_eq!(render("{{sum l \"a.b\"}}", &dotted), "4");
    }

    #[test]
    fn count_counts_lists_only() {
        let data = entries();
        assert_eq!(
            render("{{count log}} {{count empty}} {{count none}}", &data),
            "6 0 0"
        );
        assert_eq!(
            attempt("{{count text}}", &data).unwrap_err(),
            "`count`: expected a list, got \"x\""
        );
        assert_eq!(
            attempt("{{count log 2}}", &data).unwrap_err(),
            "`count`: takes 1 argument, got 2"
        );
    }

    #[test]
    fn sum_adds_numbers_and_texts_that_are_numbers() {
        let data = entries();
        let cases = [
            ("{{sum log \"n\"}}", "6.5"),
            ("{{sum log \"_PID\"}}", "1989"),
            (
                "{{sum empty \"n\"}} {{sum none \"n\"}} {{sum log \"nowhere\"}}",
                "0 0 0",
            ),
            ("{{sum log \"MESSAGE\"}}", "404"),
        ];
        for (template, expected) in cases {
            assert_eq!(render(template, &data), expected, "{template}");
        }
        let big = json!({"l": [{"v": u64::MAX}, {"v": 1}, {"v": -1}]});
        assert_eq!(render("{{sum l \"v\"}}", &big), u64::MAX.to_string());
    }

    #[test]
    fn sort_by_orders_numbers_then_text_keeps_ties_and_puts_null_last() {
        let data = entries();
        let pids = "{{#each (sort_by log \"_PID\")}}{{json n}},{{/each}}";
        assert_eq!(render(pids, &data), "[1],\"3\",2,1.5,null,\"many\",");
        let hosts = "{{#each (sort_by log \"_HOSTNAME\" desc=true)}}{{json n}},{{/each}}";
        assert_eq!(render(hosts, &data), "\"3\",1.5,2,null,\"many\",[1],");
        let mixed = json!({"l": [{"v": "b"}, {"v": true}, {"v": 10}, {}, {"v": "a"}, {"v": "9"}, {"v": [1]}, {"v": null}]});
        assert_eq!(
            render("{{#each (sort_by l \"v\")}}{{json this}} {{/each}}", &mixed).trim_end(),
            r#"{"v":"9"} {"v":10} {"v":"a"} {"v":"b"} {"v":true} {"v":[1]} {} {"v":null}"#,
        );
        assert_eq!(
            render(
                "{{#each (sort_by l \"v\" desc=true)}}{{json this}} {{/each}}",
                &mixed
            )
            .trim_end(),
            r#"{"v":[1]} {"v":true} {"v":"b"} {"v":"a"} {"v":10} {"v":"9"} {} {"v":null}"#,
        );
        assert_eq!(render("{{count (sort_by none \"v\")}}", &data), "0");
        assert_eq!(
            attempt("{{sort_by l \"v\" reverse=true}}", &mixed).unwrap_err(),
            "`sort_by`: unknown option `reverse` (expected `desc`)"
        );
        assert_eq!(
            attempt("{{sort_by l \"v\" desc=\"yes\"}}", &mixed).unwrap_err(),
            "`sort_by`: desc must be true or false, got \"yes\""
        );
    }

    #[test]
    fn take_unique_and_tally() {
        let data = entries();
        let cases = [
            ("{{#each (take log 2)}}{{_PID}},{{/each}}", "900,80,"),
            (
                "{{count (take log 0)}} {{count (take log 99)}} {{count (take none 3)}}",
                "0 6 0",
            ),
            (
                "{{#each (unique log \"_HOSTNAME\")}}[{{this}}]{{/each}}",
                "[web1][web2][]",
            ),
            ("{{count (unique log \"n\")}}", "6"),
            ("{{count (unique empty \"n\")}}", "0"),
            (
                "{{#each (tally log \"_HOSTNAME\")}}{{value}}={{count}} {{/each}}",
                "web1=2 web2=2 =2 ",
            ),
            (
                "{{#each (tally (where log \"MESSAGE\" \"^Failed\") \"_HOSTNAME\")}}{{value}}={{count}} {{/each}}",
                "web1=2 web2=1 ",
            ),
            (
                "{{#each (take (sort_by (tally (where log \"MESSAGE\" \"^Failed password\") \"_HOSTNAME\") \"count\" desc=true) 1)}}{{value}}{{/each}}",
                "web1",
            ),
            ("{{count (tally none \"x\")}}", "0"),
        ];
        for (template, expected) in cases {
            assert_eq!(render(template, &data), expected, "{template}");
        }
        let ties = json!({"l": [{"v": 1}, {"v": "1"}, {"v": 2}, {"v": 2}, {"v": "1"}, {"v": 3}]});
        assert_eq!(
            render(
                "{{#each (tally l \"v\")}}{{json value}}×{{count}} {{/each}}",
                &ties
            ),
            "\"1\"×2 2×2 1×1 3×1 "
        );
        assert_eq!(
            attempt("{{take l -1}}", &ties).unwrap_err(),
            "`take`: the number of items must be a whole number from 0 to 4294967295, got -1"
        );
    }

    #[test]
    fn capture_gives_the_first_group_of_the_first_match() {
        let data = entries();
        let cases = [
            ("{{capture log.[0].MESSAGE \"from ([0-9.]+)\"}}", "10.0.0.9"),
            ("{{capture \"a1 b2\" \"[a-z]([0-9])\"}}", "1"),
            ("{{capture \"a1 b2\" \"b[0-9]\"}}", "b2"),
            ("{{capture \"port 22\" \"port (\\\\d+)\"}}", "22"),
            ("[{{capture \"abc\" \"x(.)\"}}]", "[]"),
            ("[{{capture \"abc\" \"a(x)?\"}}]", "[]"),
            ("[{{capture none \"(.*)\"}}]", "[]"),
            (
                "{{#if (capture \"abc\" \"z\")}}y{{else}}null{{/if}}",
                "null",
            ),
            ("{{capture 404 \"^(4)\"}}", "4"),
        ];
        for (template, expected) in cases {
            assert_eq!(render(template, &data), expected, "{template}");
        }
        assert_eq!(
            attempt("{{capture \"a\" \"(\"}}", &data).unwrap_err(),
            "`capture`: invalid pattern: unclosed group"
        );
        assert_eq!(
            attempt("{{capture log \"a\"}}", &data).unwrap_err(),
            "`capture`: expected text, got [{\"MESSAGE\":\"Failed password for root fr…"
        );
    }

    #[test]
    fn patterns_are_size_limited_and_errors_name_the_helper() {
        let data = entries();
        for helper in [
            "{{where log \"MESSAGE\" \"\\\\w{1000}{1000}\"}}",
            "{{capture text \"\\\\w{1000}{1000}\"}}",
            "{{lines text \"\\\\w{1000}{1000}\"}}",
        ] {
            let error = attempt(helper, &data).unwrap_err();
            assert!(
                error.contains("invalid pattern") && error.contains("size limit"),
                "{helper}: {error}"
            );
        }
        assert_eq!(
            attempt("{{where log \"MESSAGE\"}}", &data).unwrap_err(),
            "`where`: takes 3 arguments, got 2"
        );
        assert_eq!(
            attempt("{{where log l \"x\"}}", &json!({"log": [], "l": [1]})).unwrap_err(),
            "`where`: expected text, got [1]"
        );
    }

    #[test]
    fn a_field_named_like_a_helper_is_read_when_it_stands_alone() {
        let data = json!({"l": [{"count": 7, "sum": "s", "take": null}]});
        assert_eq!(
            render("{{#each l}}{{count}} {{sum}} [{{take}}]{{/each}}", &data),
            "7 s []"
        );
        assert_eq!(
            attempt("{{#each l}}{{where}}{{/each}}", &data).unwrap_err(),
            "`where`: takes 3 arguments, got 0"
        );
    }

    #[test]
    fn a_hundred_thousand_items_take_one_pass() {
        let log: Vec<Value> = (0..100_000)
            .map(|i| json!({"MESSAGE": format!("Failed password from 10.0.{}.{}", i % 250, i % 7), "_HOSTNAME": format!("h{i}"), "n": i}))
            .collect();
        let data = json!({"log": log});
        let started = std::time::Instant::now();
        let template = "{{count (unique log \"_HOSTNAME\")}} {{count (tally log \"_HOSTNAME\")}} {{#each (take (sort_by log \"n\" desc=true) 1)}}{{n}}{{/each}} {{count (where log \"MESSAGE\" \"\\\\.6$\")}} {{sum log \"n\"}}";
        assert_eq!(
            render(template, &data),
            "100000 100000 99999 14285 4999950000"
        );
        // Generous: a pass that compared every item with every other would take minutes.
        assert!(started.elapsed() < std::time::Duration::from_secs(30));
    }
}
