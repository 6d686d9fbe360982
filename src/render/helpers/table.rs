//! Every helper a template can call, in one table: its name, how it is called, what it
//! gives, and an example with its output. Registration, `check` (which helpers exist and
//! what their results hold) and reporter-templates(7) all read it, and a test renders every
//! example through the real registry, so the manual's examples cannot drift from the code.

use super::lists::{capture, count_items, sort_by, sum, take, tally, unique, where_};
use super::{
    Apply, and, bar, bytes, duration, eq, field, fixed, group_by, gt, gte, indent, json, line,
    lines, lower, lt, lte, max_by, ne, not, or, pad, percent, plural, rpad, sparkline,
    status_symbol, truncate, upper, worst,
};

/// What a helper gives back, for `check` to follow a template into it
/// (`{{#with (worst results)}}{{name}}{{/with}}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gives {
    /// Text, a number or a boolean.
    Scalar,
    /// One item of the list it is given.
    Item,
    /// A list of `{value, count, items}`, the items those of the list it is given.
    Groups,
    /// A list of text.
    Lines,
    /// Items of the list it is given.
    Items,
    /// A list of `{value, count}`.
    Tally,
    /// What its first argument holds under the key it is given.
    Lookup,
    /// A block, or nothing `check` can know.
    Unknown,
}

/// One helper.
#[derive(Debug)]
pub struct Definition {
    pub name: &'static str,
    /// How it is called: its name, then its arguments in capitals (`[...]` when optional).
    pub usage: &'static str,
    /// What it gives, in one line.
    pub about: &'static str,
    /// One line of template that calls it, rendered with [`EXAMPLE_CONTEXT`] ...
    pub example: &'static str,
    /// ... and what that line renders to.
    pub output: &'static str,
    pub gives: Gives,
    /// `None`: Handlebars' own, registered by Handlebars itself.
    pub(super) apply: Option<Apply>,
}

/// The context the examples are rendered with: a job that ran `df` and a ping, on a host
/// with two disks (JSON, printed as it is in reporter-templates(7)).
pub const EXAMPLE_CONTEXT: &str = r#"{
  "results": [
    {"name": "df", "status": "ok",
     "stdout": "Filesystem Use% Mounted on\n/dev/sda1 41% /\n/dev/sdb1 93% /data"},
    {"name": "ping", "status": "failed", "stdout": ""}
  ],
  "summary": {"total": 2, "ok": 1, "failed": 1},
  "host": {"disks": [
    {"mount": "/", "device": "/dev/sda1", "percent": 41},
    {"mount": "/data", "device": "/dev/sdb1", "percent": 93, "trend": [20, 55, 93]}
  ]}
}"#;

/// A helper of reporter's own, applied by `apply`.
const fn ours(
    name: &'static str,
    usage: &'static str,
    about: &'static str,
    example: (&'static str, &'static str),
    gives: Gives,
    apply: Apply,
) -> Definition {
    Definition {
        apply: Some(apply),
        ..handlebars(name, usage, about, example, gives)
    }
}

/// One of Handlebars' own helpers, which Handlebars registers itself.
const fn handlebars(
    name: &'static str,
    usage: &'static str,
    about: &'static str,
    (example, output): (&'static str, &'static str),
    gives: Gives,
) -> Definition {
    Definition {
        name,
        usage,
        about,
        example,
        output,
        gives,
        apply: None,
    }
}

/// Every helper, in the order reporter-templates(7) lists them.
pub const ALL: &[Definition] = &[
    ours(
        "bytes",
        "bytes NUMBER",
        "A size in binary units, rounded up as df -h rounds: one decimal below 10, whole numbers from 10 up.",
        ("{{bytes 1610612736}}", "1.5 GiB"),
        Gives::Scalar,
        bytes,
    ),
    ours(
        "percent",
        "percent VALUE [TOTAL]",
        "VALUE (already in percent) with one decimal at most; with TOTAL, VALUE / TOTAL in percent (- when TOTAL is 0).",
        ("{{percent 1 3}}", "33.3%"),
        Gives::Scalar,
        percent,
    ),
    ours(
        "duration",
        "duration MILLISECONDS",
        "A duration in its two largest units: 850ms, 1.5s, 2m 03s, 1h 02m, 3d 04h.",
        ("{{duration 123456}}", "2m 03s"),
        Gives::Scalar,
        duration,
    ),
    ours(
        "fixed",
        "fixed NUMBER DIGITS",
        "NUMBER with exactly DIGITS decimals (0 to 10), as uptime shows the load.",
        ("{{fixed 1.8 2}}", "1.80"),
        Gives::Scalar,
        fixed,
    ),
    ours(
        "plural",
        "plural N WORD [PLURAL]",
        "N and WORD, which gets an s (or is PLURAL) unless N is 1.",
        (r#"{{plural summary.total "command"}}"#, "2 commands"),
        Gives::Scalar,
        plural,
    ),
    ours(
        "pad",
        "pad VALUE WIDTH",
        "VALUE left-aligned in WIDTH characters (up to 1000), for columns of text.",
        (r#"[{{pad "/var" 6}}]"#, "[/var  ]"),
        Gives::Scalar,
        pad,
    ),
    ours(
        "rpad",
        "rpad VALUE WIDTH",
        "VALUE right-aligned in WIDTH characters (up to 1000), for columns of numbers.",
        ("[{{rpad (bytes 25769803776) 8}}]", "[  24 GiB]"),
        Gives::Scalar,
        rpad,
    ),
    ours(
        "indent",
        "indent TEXT [N]",
        "Every line of TEXT that is not empty indented by N spaces (4 when not given).",
        (r#"[{{indent "df -h" 2}}]"#, "[  df -h]"),
        Gives::Scalar,
        indent,
    ),
    ours(
        "truncate",
        "truncate TEXT N",
        "At most N characters of TEXT, the last one … when it is cut.",
        (r#"{{truncate "nightly backup" 8}}"#, "nightly…"),
        Gives::Scalar,
        truncate,
    ),
    ours(
        "bar",
        "bar PERCENT [width=W]",
        "A bar of W characters (10 when not given, up to 200) filled to PERCENT (clamped at 0 and 100), and the percentage.",
        ("{{bar 70}}", "[#######---] 70%"),
        Gives::Scalar,
        bar,
    ),
    ours(
        "sparkline",
        "sparkline LIST",
        "Each number of LIST (a percentage, clamped at 0 and 100) as one of ▁▂▃▄▅▆▇█, null as a space.",
        ("{{sparkline host.disks.[1].trend}}", "▂▅█"),
        Gives::Scalar,
        sparkline,
    ),
    ours(
        "upper",
        "upper TEXT",
        "TEXT in capitals.",
        ("{{upper results.[1].status}}", "FAILED"),
        Gives::Scalar,
        upper,
    ),
    ours(
        "lower",
        "lower TEXT",
        "TEXT in small letters.",
        (r#"{{lower "Debian"}}"#, "debian"),
        Gives::Scalar,
        lower,
    ),
    ours(
        "status_symbol",
        "status_symbol STATUS",
        "✔ for ok, ✘ for failed, ⌛ for timeout, ⚠ for error.",
        ("{{status_symbol results.[1].status}}", "✘"),
        Gives::Scalar,
        status_symbol,
    ),
    ours(
        "json",
        "json VALUE",
        "VALUE JSON-encoded, for the bodies of webhooks.",
        (
            r#"{"job": {{json results.[1].name}}}"#,
            r#"{"job": "ping"}"#,
        ),
        Gives::Scalar,
        json,
    ),
    ours(
        "lines",
        "lines TEXT [PATTERN]",
        "The lines of TEXT that are not empty (and match the regular expression PATTERN, when given), as a list.",
        (r#"{{len (lines results.[0].stdout "^/dev/")}}"#, "2"),
        Gives::Lines,
        lines,
    ),
    ours(
        "line",
        "line TEXT N",
        "Line N of TEXT, counted from 1 (-1 is the last); empty when there is none.",
        ("{{line results.[0].stdout -1}}", "/dev/sdb1 93% /data"),
        Gives::Scalar,
        line,
    ),
    ours(
        "field",
        "field TEXT N",
        "Field N of TEXT split at whitespace, as awk's $N (-1 is the last); empty when there is none.",
        (r#"{{field "/dev/sdb1 100G 95G 5G 95% /data" -1}}"#, "/data"),
        Gives::Scalar,
        field,
    ),
    ours(
        "worst",
        "worst RESULTS",
        "The first result with the worst status (error, then timeout, then failed: the one summary.status names); null for an empty list.",
        (
            "{{#with (worst results)}}{{name}}: {{status}}{{/with}}",
            "ping: failed",
        ),
        Gives::Item,
        worst,
    ),
    ours(
        "max_by",
        "max_by LIST KEY",
        "The item whose field KEY is the largest number; for lines of text KEY is a field number and 95% counts as 95; null when none has a number there.",
        (
            r#"{{#with (max_by host.disks "percent")}}{{mount}}{{/with}}"#,
            "/data",
        ),
        Gives::Item,
        max_by,
    ),
    ours(
        "group_by",
        "group_by LIST KEY",
        "The items with the same KEY (as for max_by) together, in the order each value first appears, as a list of {value, count, items}.",
        (
            r#"{{#each (group_by results "status")}}[{{value}} {{count}}]{{/each}}"#,
            "[ok 1][failed 1]",
        ),
        Gives::Groups,
        group_by,
    ),
    ours(
        "where",
        "where LIST FIELD REGEX",
        "The items whose FIELD, as text, matches the regular expression REGEX (numbers and true/false as written, null and a missing field as empty text).",
        (
            r#"{{#each (where host.disks "percent" "^9")}}{{mount}}{{/each}}"#,
            "/data",
        ),
        Gives::Items,
        where_,
    ),
    ours(
        "count",
        "count LIST",
        "How many items LIST has; 0 for null.",
        (r#"{{count (where results "status" "^ok$")}}"#, "1"),
        Gives::Scalar,
        count_items,
    ),
    ours(
        "sum",
        "sum LIST FIELD",
        "The numbers of FIELD added up (texts that are numbers too); other values are skipped, and an empty list gives 0.",
        (r#"{{sum host.disks "percent"}}"#, "134"),
        Gives::Scalar,
        sum,
    ),
    ours(
        "sort_by",
        "sort_by LIST FIELD [desc=true]",
        "The items ordered by FIELD, ascending or with desc=true descending: numbers (and texts that are numbers) by value, then other texts alphabetically; equal values keep their order, null comes last.",
        (
            r#"{{#each (sort_by host.disks "percent" desc=true)}}{{mount}} {{/each}}"#,
            "/data / ",
        ),
        Gives::Items,
        sort_by,
    ),
    ours(
        "take",
        "take LIST N",
        "The first N items of LIST (all of them when it has fewer).",
        (r#"{{#each (take results 1)}}{{name}}{{/each}}"#, "df"),
        Gives::Items,
        take,
    ),
    ours(
        "unique",
        "unique LIST FIELD",
        "The distinct values of FIELD, in the order each first appears (null among them when an item lacks it).",
        (
            r#"{{#each (unique results "status")}}[{{this}}]{{/each}}"#,
            "[ok][failed]",
        ),
        Gives::Unknown,
        unique,
    ),
    ours(
        "tally",
        "tally LIST FIELD",
        "Each distinct value of FIELD with how many items hold it, as a list of {value, count}: the most frequent first, equal counts in the order the values first appear.",
        (
            r#"{{#each (tally results "status")}}[{{value}} {{count}}]{{/each}}"#,
            "[ok 1][failed 1]",
        ),
        Gives::Tally,
        tally,
    ),
    ours(
        "capture",
        "capture TEXT REGEX",
        "The text the first group of the regular expression REGEX captures at its first match in TEXT (the whole match when it has no group); null when it does not match.",
        (r#"{{capture results.[0].stdout "([0-9]+)% /data"}}"#, "93"),
        Gives::Scalar,
        capture,
    ),
    handlebars(
        "len",
        "len LIST",
        "How many items LIST has (the keys of an object, the bytes of a text).",
        ("{{len results}}", "2"),
        Gives::Scalar,
    ),
    handlebars(
        "lookup",
        "lookup VALUE KEY",
        "The item KEY of VALUE, where KEY is itself a variable (inside each: (lookup @root.disk_history mount)).",
        (r#"{{lookup summary "failed"}}"#, "1"),
        Gives::Lookup,
    ),
    ours(
        "eq",
        "eq A B",
        "Whether A equals B: numbers by value (1 equals 1.0), everything else exactly.",
        (r#"{{#if (eq results.[0].status "ok")}}fine{{/if}}"#, "fine"),
        Gives::Scalar,
        eq,
    ),
    ours(
        "ne",
        "ne A B",
        "Whether A does not equal B, as eq compares.",
        ("{{ne 1 1.0}}", "false"),
        Gives::Scalar,
        ne,
    ),
    ours(
        "gt",
        "gt A B",
        "Whether A is greater than B: numbers (and texts that are numbers) by value, other texts alphabetically; false when either is null.",
        ("{{#if (gt host.disks.[1].percent 90)}}full{{/if}}", "full"),
        Gives::Scalar,
        gt,
    ),
    ours(
        "gte",
        "gte A B",
        "Whether A is greater than B or equal to it, as gt compares.",
        ("{{gte 90 90.0}}", "true"),
        Gives::Scalar,
        gte,
    ),
    ours(
        "lt",
        "lt A B",
        "Whether A is less than B, as gt compares.",
        (r#"{{lt "9" 10}}"#, "true"),
        Gives::Scalar,
        lt,
    ),
    ours(
        "lte",
        "lte A B",
        "Whether A is less than B or equal to it, as gt compares.",
        ("{{lte 41 40}}", "false"),
        Gives::Scalar,
        lte,
    ),
    ours(
        "and",
        "and A B ...",
        r#"Whether every argument is true as if sees it (null, false, 0, "" and [] are false)."#,
        ("{{and summary.ok summary.failed}}", "true"),
        Gives::Scalar,
        and,
    ),
    ours(
        "or",
        "or A B ...",
        "Whether any argument is true, as and sees it.",
        (r#"{{or 0 ""}}"#, "false"),
        Gives::Scalar,
        or,
    ),
    ours(
        "not",
        "not A",
        "Whether A is false, as and sees it.",
        ("{{not summary.failed}}", "false"),
        Gives::Scalar,
        not,
    ),
    handlebars(
        "if",
        "#if VALUE",
        "The block when VALUE is true (as and sees it), else its {{else}} part.",
        (
            r#"{{#if summary.failed}}{{plural summary.failed "failure"}}{{else}}all ok{{/if}}"#,
            "1 failure",
        ),
        Gives::Unknown,
    ),
    handlebars(
        "unless",
        "#unless VALUE",
        "The block when VALUE is false, else its {{else}} part.",
        (
            "{{#unless summary.failed}}all ok{{else}}check{{/unless}}",
            "check",
        ),
        Gives::Unknown,
    ),
    handlebars(
        "each",
        "#each LIST",
        "The block once per item, the item as its context, with @index, @first and @last (@key for an object); {{else}} for an empty list.",
        (
            "{{#each results}}{{#unless @first}}, {{/unless}}{{name}}{{/each}}",
            "df, ping",
        ),
        Gives::Unknown,
    ),
    handlebars(
        "with",
        "#with VALUE",
        "The block with VALUE as its context; {{else}} when VALUE is null.",
        (
            "{{#with host.disks.[0]}}{{mount}} on {{device}}{{/with}}",
            "/ on /dev/sda1",
        ),
        Gives::Unknown,
    ),
    handlebars(
        "raw",
        "{{{{raw}}}} TEXT {{{{/raw}}}}",
        "TEXT as it is, braces and all.",
        ("{{{{raw}}}}{{name}}{{{{/raw}}}}", "{{name}}"),
        Gives::Unknown,
    ),
    handlebars(
        "log",
        "log VALUE ...",
        "Nothing: Handlebars' logging helper, whose messages reporter does not keep.",
        (r#"[{{log "checked" summary.total}}]"#, "[]"),
        Gives::Unknown,
    ),
];

/// The helper called `name`.
pub fn find(name: &str) -> Option<&'static Definition> {
    ALL.iter().find(|helper| helper.name == name)
}
