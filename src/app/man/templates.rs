//! reporter-templates(7): the prose kept in `reporter-templates.7.roff`, with the context
//! and the helpers written in from the tables the code itself reads (the context schema,
//! the helper table), so the page lists what a template can use, no more and no less.

use crate::app::man::roff::{bold, escape, escape_within};
use crate::render::helpers::{self, Definition};
use crate::render::schema::{DIGEST_CONTEXT, JOB_CONTEXT, Kind, Variable};

const PROSE: &str = include_str!("reporter-templates.7.roff");

/// reporter-templates(7), with `version` in its title line.
pub fn page(version: &str) -> String {
    let mut seen = Vec::new();
    let context = context(&JOB_CONTEXT, &mut seen);
    let digest = context_of_digest(&mut seen);
    let helpers: String = helpers::ALL.iter().map(helper).collect();
    PROSE
        .replace("@VERSION@", version)
        .replace("@CONTEXT@\n", &context)
        .replace("@DIGEST@\n", &digest)
        .replace("@EXAMPLE_CONTEXT@", &escape(helpers::EXAMPLE_CONTEXT))
        .replace("@HELPERS@\n", &helpers)
}

/// The objects listed so far, each with the path it was listed under: an object met again
/// (`previous` holds results) points there instead of being listed twice.
type Seen = Vec<(&'static Kind, String)>;

fn context(kind: &'static Kind, seen: &mut Seen) -> String {
    let mut out = String::new();
    below(kind, "", seen, &mut out);
    out
}

fn context_of_digest(seen: &mut Seen) -> String {
    let mut out = String::from(
        "The digest template sees a context of its own; \\fBcheck\\fR checks it against this one.\n",
    );
    below(&DIGEST_CONTEXT, "", seen, &mut out);
    out
}

/// The variables under `kind`, which is at `path`.
fn below(kind: &'static Kind, path: &str, seen: &mut Seen, out: &mut String) {
    match kind {
        Kind::Object(variables) => {
            if !path.is_empty() {
                seen.push((kind, path.to_owned()));
            }
            for variable in *variables {
                let at = if path.is_empty() {
                    variable.name.to_owned()
                } else {
                    format!("{path}.{}", variable.name)
                };
                entry(variable, &at, seen, out);
                if listed_at(variable.kind, seen).is_none() {
                    below(variable.kind, &at, seen, out);
                }
            }
        }
        Kind::List(item) => below(item, &format!("{path}[]"), seen, out),
        Kind::Map(key, value) => below(value, &format!("{path}.{key}"), seen, out),
        Kind::OrNull(kind) => below(kind, path, seen, out),
        Kind::Scalar(_) | Kind::Any(_) => {}
    }
}

/// The object a kind is or holds (through lists, maps and nulls).
fn object_in(kind: &'static Kind) -> Option<&'static Kind> {
    match kind {
        Kind::Object(_) => Some(kind),
        Kind::List(inner) | Kind::Map(_, inner) | Kind::OrNull(inner) => object_in(inner),
        Kind::Scalar(_) | Kind::Any(_) => None,
    }
}

/// Where the object `kind` is or holds was listed already.
fn listed_at(kind: &'static Kind, seen: &Seen) -> Option<String> {
    let object = object_in(kind)?;
    seen.iter()
        .find(|(listed, _)| std::ptr::eq(*listed, object))
        .map(|(_, path)| path.clone())
}

fn entry(variable: &Variable, path: &str, seen: &Seen, out: &mut String) {
    let mut kind = words(variable.kind);
    if let Some(listed) = listed_at(variable.kind, seen) {
        let items = if matches!(object_in(variable.kind), Some(o) if std::ptr::eq(o, variable.kind))
        {
            "as"
        } else {
            "items as in"
        };
        kind = format!("{kind}; {items} {}", bold(&listed));
    }
    out.push_str(&format!(
        ".TP\n{} ({kind})\n{}\n",
        arguments(path),
        escape(variable.about)
    ));
}

/// What a kind is, in words: `text or null`, `list of numbers`.
fn words(kind: &Kind) -> String {
    match kind {
        Kind::Scalar(word) | Kind::Any(word) => (*word).to_owned(),
        Kind::Object(_) => "object".to_owned(),
        Kind::List(Kind::Scalar(word)) if *word == "text" => "list of text".to_owned(),
        Kind::List(Kind::Scalar(word)) => format!("list of {word}s"),
        Kind::List(_) => "list".to_owned(),
        Kind::Map(..) => "map".to_owned(),
        Kind::OrNull(kind) => format!("{} or null", words(kind)),
    }
}

/// A usage line or a path in bold, with its words in capitals (what is put in) in italics.
fn arguments(text: &str) -> String {
    let mut out = String::from("\\fB");
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if !word.is_empty() && word.chars().all(|c| c.is_ascii_uppercase()) {
            out.push_str(&format!("\\fI{word}\\fB"));
        } else {
            out.push_str(&escape_within(word));
        }
        word.clear();
    };
    for c in text.chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push_str(&escape_within(&c.to_string()));
        }
    }
    flush(&mut word, &mut out);
    out.push_str("\\fR");
    out
}

fn helper(helper: &Definition) -> String {
    format!(
        ".TP\n{}\n{}\n.nf\n{} \\(-> {}\n.fi\n",
        arguments(helper.usage),
        escape(helper.about),
        escape(helper.example),
        escape(helper.output),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::helpers::register;

    #[test]
    fn every_variable_and_helper_is_on_the_page_once() {
        let page = page("reporter 1.0");
        let placeholder = regex::Regex::new("@[A-Z_]+@").unwrap();
        assert!(
            !placeholder.is_match(&page),
            "a placeholder is left: {page}"
        );
        for name in [
            "results[].stdout",
            "host.disks[].days_to_full",
            "jobs[].html",
        ] {
            assert_eq!(
                page.matches(&format!(".TP\n\\fB{}\\fR (", escape(name)))
                    .count(),
                1,
                "{name}"
            );
        }
        assert!(
            page.contains(".TP\n\\fBdisk_history.\\fIMOUNT\\fB[].percent\\fR (number)\n"),
            "{page}"
        );
        assert!(
            page.contains("\\fBprevious\\fR (list or null; items as in \\fBresults[]\\fR)"),
            "{page}"
        );
        assert!(
            page.contains("\\fBhosts[].summary\\fR (object; as \\fBsummary\\fR)"),
            "{page}"
        );
        assert!(!page.contains("previous[]."), "results are listed once");
        for helper in helpers::ALL {
            assert_eq!(
                page.matches(&format!("\n.TP\n{}\n", arguments(helper.usage)))
                    .count(),
                1,
                "{}",
                helper.name
            );
            assert!(
                page.contains(&format!("{} \\(-> ", escape(helper.example))),
                "{}",
                helper.name
            );
        }
        assert!(
            page.contains(".TP\n\\fBpercent \\fIVALUE\\fB [\\fITOTAL\\fB]\\fR\n"),
            "{page}"
        );
    }

    /// The `.nf` blocks of the EXAMPLES section, as the reader sees them.
    fn examples() -> Vec<String> {
        let section = PROSE
            .split("\n.SH EXAMPLES\n")
            .nth(1)
            .and_then(|s| s.split("\n.SH ").next())
            .unwrap();
        section
            .split(".nf\n")
            .skip(1)
            .map(|block| block.split(".fi\n").next().unwrap().replace("\\-", "-"))
            .collect()
    }

    #[test]
    fn the_examples_render_as_the_page_shows() {
        let mut registry = handlebars::Handlebars::new();
        registry.set_strict_mode(true);
        registry.register_escape_fn(handlebars::no_escape);
        register(&mut registry);
        let gib = 1u64 << 30;
        let context = serde_json::json!({
            "host": {"hostname": "web1", "disks": [{"mount": "/", "total": 252 * gib,
                "used": 24 * gib, "available": 67 * gib, "percent": 27}]},
            "results": [{"name": "df", "status": "failed"}],
        });
        let [table, shown, subject] = &examples()[..] else {
            panic!("{:?}", examples());
        };
        assert_eq!(registry.render_template(table, &context).unwrap(), *shown);
        assert_eq!(
            registry.render_template(subject, &context).unwrap(),
            "[FAILED] df on web1\n"
        );
    }
}
