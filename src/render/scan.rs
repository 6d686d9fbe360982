//! Static scans of compiled templates, made before anything is rendered: which partials
//! a template includes (so a run compiles only those), how deep they nest (partials that
//! include each other would recurse until the stack overflows), whether it reads the
//! system facts or the previous run (so a run gathers or keeps them only then), and
//! whether it reads only what `check` knows (so `check` renders it only then).

use std::collections::{HashMap, HashSet};

use handlebars::template::{DecoratorTemplate, Parameter, TemplateElement};
use handlebars::{Handlebars, Template};

use crate::render::helpers;

/// A part of the context that costs something to have: a scan finds whether a template
/// reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Costly {
    /// `host` beyond `host.hostname` and `host.fqdn`: gathered from /proc and the disks.
    SystemFacts,
    /// `previous`: the last run's results, outputs and all.
    Previous,
}

impl Costly {
    /// Whether a path whose first segments, in the root context, are `first` and `second`
    /// reads this part.
    fn read_by(self, first: &str, second: Option<&str>) -> bool {
        match self {
            Costly::SystemFacts => first == "host" && !matches!(second, Some("hostname" | "fqdn")),
            Costly::Previous => first == "previous",
        }
    }
}

/// Whether `template`, evaluated with the whole context as `this` and its partials found
/// in `registry`, reads `part`.
pub fn reads(registry: &Handlebars<'static>, template: &Template, part: Costly) -> bool {
    ReadScan {
        registry,
        wanted: &|first, second| part.read_by(first, second),
        partials: HashSet::new(),
    }
    .template(template, true)
}

/// Whether `template`, evaluated as [`reads`] evaluates it, reads a variable of its
/// context other than those under `known` (`job`, `host`): when unsure, it does.
pub fn reads_beyond(registry: &Handlebars<'static>, template: &Template, known: &[&str]) -> bool {
    ReadScan {
        registry,
        wanted: &|first, _| !known.contains(&first),
        partials: HashSet::new(),
    }
    .template(template, true)
}

/// Looks through a compiled template for reads of the variables `wanted` picks by their
/// first two segments. When unsure (a block that changes the context climbed out of with
/// `../`, a construct it does not know) it says yes: gathering or keeping too much is
/// only slower, and `check` then leaves the template to the run.
struct ReadScan<'a> {
    registry: &'a Handlebars<'static>,
    wanted: &'a dyn Fn(&str, Option<&str>) -> bool,
    partials: HashSet<String>,
}

impl ReadScan<'_> {
    /// `root`: whether the template is evaluated with the whole context as `this`.
    fn template(&mut self, template: &Template, root: bool) -> bool {
        template.elements.iter().any(|e| self.element(e, root))
    }

    fn element(&mut self, element: &TemplateElement, root: bool) -> bool {
        match element {
            TemplateElement::RawString(_) | TemplateElement::Comment(_) => false,
            TemplateElement::Expression(h)
            | TemplateElement::HtmlExpression(h)
            | TemplateElement::HelperBlock(h) => {
                // `if` and `unless` keep the context; `each`, `with` and others change it.
                let keeps = matches!(&h.name, Parameter::Name(n) if n == "if" || n == "unless");
                // A helper's name reads nothing; a name that is no helper is a variable.
                let helper = matches!(&h.name, Parameter::Name(n) if helpers::find(n).is_some());
                (!helper && self.parameter(&h.name, root))
                    || h.params.iter().any(|p| self.parameter(p, root))
                    || h.hash.values().any(|p| self.parameter(p, root))
                    || h.template
                        .as_ref()
                        .is_some_and(|t| self.template(t, root && keeps))
                    || h.inverse.as_ref().is_some_and(|t| self.template(t, root))
            }
            TemplateElement::PartialExpression(d)
            | TemplateElement::PartialBlock(d)
            | TemplateElement::DecoratorExpression(d)
            | TemplateElement::DecoratorBlock(d) => {
                let partial = match &d.name {
                    Parameter::Name(name) => Some(name.clone()),
                    Parameter::Path(path) => Some(raw(path).to_owned()),
                    _ => None,
                };
                let inner_root = root && d.params.is_empty();
                d.params.iter().any(|p| self.parameter(p, root))
                    || d.hash.values().any(|p| self.parameter(p, root))
                    || d.template.as_ref().is_some_and(|t| self.template(t, root))
                    || partial.is_some_and(|name| {
                        self.partials.insert(name.clone())
                            && self
                                .registry
                                .get_template(&name)
                                .is_some_and(|t| self.template(t, inner_root))
                    })
            }
            _ => true,
        }
    }

    fn parameter(&mut self, parameter: &Parameter, root: bool) -> bool {
        match parameter {
            Parameter::Name(name) => self.read_at(name, root),
            Parameter::Path(path) => self.read_at(raw(path), root),
            Parameter::Literal(_) => false,
            Parameter::Subexpression(sub) => self.element(sub.as_element(), root),
            _ => true,
        }
    }

    /// Does the path `raw`, evaluated in the root context (`root`) or another one, read
    /// the part looked for?
    fn read_at(&self, raw: &str, root: bool) -> bool {
        let mut rest = raw;
        let mut at_root = root;
        if let Some(after) = rest.strip_prefix("@root") {
            rest = after.trim_start_matches(['.', '/']);
            at_root = true;
        } else if rest.starts_with('@') {
            return false;
        }
        while let Some(after) = rest.strip_prefix("../") {
            rest = after;
            at_root = true;
        }
        for this in ["this.", "this/", "./"] {
            if let Some(after) = rest.strip_prefix(this) {
                rest = after;
            }
        }
        if !at_root {
            return false;
        }
        let mut segments = rest.split(['.', '/']);
        match segments.next() {
            Some("" | "this" | ".") => true,
            Some(first) => (self.wanted)(first, segments.next()),
            None => false,
        }
    }
}

pub(crate) fn raw(path: &handlebars::Path) -> &str {
    match path {
        handlebars::Path::Relative((_, raw)) => raw,
        handlebars::Path::Local(_) => "@local",
    }
}

/// How deep partials may nest below a template (docs/security.md).
pub const NESTING_LIMIT: usize = 32;

/// Partials that cannot be rendered: they include each other, or nest too deep.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Nesting {
    /// The names around the cycle, starting and ending with the same one.
    #[error("partials include each other: {}", .0.join(" → "))]
    Cycle(Vec<String>),
    /// The chain of partials from the template down.
    #[error("partials nest deeper than {NESTING_LIMIT} levels: {}", .0.join(" → "))]
    TooDeep(Vec<String>),
}

/// Checks how the partials `template` includes (found in `registry`, or defined inline)
/// nest: no cycle, and at most [`NESTING_LIMIT`] levels. A partial picked at render time
/// (`{{> (expression)}}`) may be any of them.
pub fn partial_nesting(registry: &Handlebars<'static>, template: &Template) -> Result<(), Nesting> {
    let mut scan = NestingScan {
        registry,
        inline: HashMap::new(),
        below: HashMap::new(),
        path: Vec::new(),
    };
    scan.inline_partials(template);
    let depth = scan.below(template)?;
    if depth > NESTING_LIMIT {
        return Err(Nesting::TooDeep(scan.deepest_chain(template)));
    }
    Ok(())
}

struct NestingScan<'a> {
    registry: &'a Handlebars<'static>,
    /// Partials defined with `{{#*inline "name"}}`, found before the others.
    inline: HashMap<String, &'a Template>,
    /// For each partial scanned: the levels of partials below it (itself included), and
    /// the partial it includes that is deepest.
    below: HashMap<String, (usize, Option<String>)>,
    /// The partials being scanned, outermost first.
    path: Vec<String>,
}

impl<'a> NestingScan<'a> {
    fn find(&self, name: &str) -> Option<&'a Template> {
        self.inline
            .get(name)
            .copied()
            .or_else(|| self.registry.get_template(name))
    }

    /// The partials `template` includes, in order; all of them for one picked at render time.
    fn includes(&self, template: &'a Template) -> Vec<String> {
        let mut names = Vec::new();
        let mut dynamic = false;
        walk(template, &mut |d| match &d.name {
            Parameter::Name(name) => names.push(name.clone()),
            Parameter::Path(path) => names.push(raw(path).to_owned()),
            _ => dynamic = true,
        });
        if dynamic {
            names.extend(self.inline.keys().cloned());
            names.extend(self.registry.get_templates().keys().cloned());
        }
        names.retain(|n| n != "@partial-block");
        names
    }

    fn inline_partials(&mut self, template: &'a Template) {
        walk_inline(template, &mut self.inline);
    }

    /// The levels of partials below `template`.
    fn below(&mut self, template: &'a Template) -> Result<usize, Nesting> {
        let mut deepest = 0;
        for name in self.includes(template) {
            deepest = deepest.max(self.partial(&name)?.0);
        }
        Ok(deepest)
    }

    /// The levels of partials from `name` down, itself included.
    fn partial(&mut self, name: &str) -> Result<(usize, Option<String>), Nesting> {
        if let Some(known) = self.below.get(name) {
            return Ok(known.clone());
        }
        if let Some(at) = self.path.iter().position(|p| p == name) {
            return Err(Nesting::Cycle(cycle(&self.path[at..])));
        }
        let Some(template) = self.find(name) else {
            // Missing: rendering says so.
            return Ok((1, None));
        };
        self.path.push(name.to_owned());
        self.inline_partials(template);
        let mut deepest = (1, None);
        for inner in self.includes(template) {
            let (levels, _) = self.partial(&inner)?;
            if levels + 1 > deepest.0 {
                deepest = (levels + 1, Some(inner));
            }
        }
        self.path.pop();
        self.below.insert(name.to_owned(), deepest.clone());
        Ok(deepest)
    }

    /// The deepest chain of partials below `template`, outermost first.
    fn deepest_chain(&self, template: &'a Template) -> Vec<String> {
        let mut next = self
            .includes(template)
            .into_iter()
            .max_by_key(|name| self.below.get(name).map_or(0, |b| b.0));
        let mut chain = Vec::new();
        while let Some(name) = next {
            next = self.below.get(&name).and_then(|b| b.1.clone());
            chain.push(name);
        }
        chain
    }
}

/// The cycle through `names`, closed, starting at its smallest name (so that every way
/// into it reads the same).
fn cycle(names: &[String]) -> Vec<String> {
    let start = (0..names.len()).min_by_key(|&i| &names[i]).unwrap_or(0);
    let mut cycle: Vec<String> = names[start..]
        .iter()
        .chain(&names[..start])
        .cloned()
        .collect();
    cycle.push(cycle[0].clone());
    cycle
}

/// Calls `found` with every partial inclusion in `template`, blocks included.
fn walk(template: &Template, found: &mut impl FnMut(&DecoratorTemplate)) {
    for element in &template.elements {
        match element {
            TemplateElement::Expression(h)
            | TemplateElement::HtmlExpression(h)
            | TemplateElement::HelperBlock(h) => {
                for inner in h.template.iter().chain(&h.inverse) {
                    walk(inner, found);
                }
            }
            TemplateElement::PartialExpression(d) | TemplateElement::PartialBlock(d) => {
                found(d);
                if let Some(inner) = &d.template {
                    walk(inner, found);
                }
            }
            TemplateElement::DecoratorBlock(d) | TemplateElement::DecoratorExpression(d) => {
                if let Some(inner) = &d.template {
                    walk(inner, found);
                }
            }
            _ => {}
        }
    }
}

/// Where `template` first includes the partial `name` (line, column), in blocks too.
pub fn include_position(template: &Template, name: &str) -> Option<(usize, usize)> {
    for (i, element) in template.elements.iter().enumerate() {
        let inner: Vec<&Template> = match element {
            TemplateElement::PartialExpression(d) | TemplateElement::PartialBlock(d) => {
                let included = match &d.name {
                    Parameter::Name(n) => n.as_str(),
                    Parameter::Path(path) => raw(path),
                    _ => "",
                };
                if included == name {
                    return template.mapping.get(i).map(|m| (m.0, m.1));
                }
                d.template.iter().collect()
            }
            TemplateElement::HelperBlock(h) => h.template.iter().chain(&h.inverse).collect(),
            TemplateElement::DecoratorBlock(d) => d.template.iter().collect(),
            _ => Vec::new(),
        };
        if let Some(at) = inner.into_iter().find_map(|t| include_position(t, name)) {
            return Some(at);
        }
    }
    None
}

/// Adds the partials `template` defines with `{{#*inline "name"}}` to `inline`.
pub(crate) fn walk_inline<'a>(template: &'a Template, inline: &mut HashMap<String, &'a Template>) {
    for element in &template.elements {
        match element {
            TemplateElement::DecoratorBlock(d) => {
                let is_inline = matches!(&d.name, Parameter::Name(n) if n == "inline");
                if let (true, Some(Parameter::Literal(name)), Some(body)) =
                    (is_inline, d.params.first(), &d.template)
                    && let Some(name) = name.as_str()
                {
                    inline.insert(name.to_owned(), body);
                }
                if let Some(inner) = &d.template {
                    walk_inline(inner, inline);
                }
            }
            TemplateElement::HelperBlock(h) => {
                for inner in h.template.iter().chain(&h.inverse) {
                    walk_inline(inner, inline);
                }
            }
            TemplateElement::PartialBlock(d) => {
                if let Some(inner) = &d.template {
                    walk_inline(inner, inline);
                }
            }
            _ => {}
        }
    }
}

/// Adds the names of the partials `source` includes (`{{> name}}`, `{{#> name}}`) to
/// `names`; `false` when it picks one at render time (`{{> (expression)}}`).
pub fn partials_used(source: &str, names: &mut HashSet<String>) -> bool {
    let mut rest = source;
    while let Some(at) = rest.find("{{") {
        rest = &rest[at + 2..];
        let tag = rest
            .trim_start_matches('~')
            .trim_start_matches('#')
            .trim_start();
        let Some(tag) = tag.strip_prefix('>') else {
            continue;
        };
        let tag = tag.trim_start();
        if tag.starts_with('(') || tag.starts_with('[') {
            return false;
        }
        let name: String = tag
            .chars()
            .take_while(|c| !c.is_whitespace() && *c != '}' && *c != '~')
            .collect();
        if !name.is_empty() {
            names.insert(name);
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nesting(partials: &[(&str, &str)], template: &str) -> Result<(), Nesting> {
        let mut registry = Handlebars::new();
        for (name, source) in partials {
            registry.register_partial(name, source).unwrap();
        }
        partial_nesting(&registry, &Template::compile(template).unwrap())
    }

    #[test]
    fn partial_cycles_are_found_however_they_are_entered() {
        let partials = [
            ("a", "{{#if x}}{{> b}}{{/if}}"),
            ("b", "{{#each y}}{{> c}}{{/each}}"),
            ("c", "{{> a}}"),
        ];
        let cycle = Err(Nesting::Cycle(vec![
            "a".into(),
            "b".into(),
            "c".into(),
            "a".into(),
        ]));
        assert_eq!(nesting(&partials, "{{> a}}"), cycle);
        assert_eq!(nesting(&partials, "{{> c}}"), cycle);
        assert_eq!(
            nesting(&[("self", "{{> self}}")], "{{> self}}"),
            Err(Nesting::Cycle(vec!["self".into(), "self".into()]))
        );
        assert_eq!(
            nesting(&[], "{{#*inline \"i\"}}{{> i}}{{/inline}}{{> i}}"),
            Err(Nesting::Cycle(vec!["i".into(), "i".into()]))
        );
        // Picked at render time: any partial may be the one.
        assert!(nesting(&partials, "{{> (lookup this \"name\")}}").is_err());
        assert_eq!(
            nesting(
                &[("a", "{{> b}}"), ("b", "x")],
                "{{> a}}{{> b}}{{> missing}}"
            ),
            Ok(())
        );
    }

    #[test]
    fn nesting_is_limited_to_32_levels() {
        let names: Vec<String> = (0..=40).map(|i| format!("p{i}")).collect();
        let sources: Vec<String> = (0..=40)
            .map(|i| {
                if i == 40 {
                    "end".into()
                } else {
                    format!("{{{{> p{}}}}}", i + 1)
                }
            })
            .collect();
        let partials: Vec<(&str, &str)> = names
            .iter()
            .map(String::as_str)
            .zip(sources.iter().map(String::as_str))
            .collect();
        assert_eq!(nesting(&partials, "{{> p9}}"), Ok(()));
        match nesting(&partials, "{{> p8}}") {
            Err(Nesting::TooDeep(chain)) => assert_eq!(chain, names[8..]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn reads_beyond_known_variables_are_found_and_helper_names_are_none() {
        let mut registry = Handlebars::new();
        registry.register_partial("who", "{{job.name}}").unwrap();
        registry.register_partial("when", "{{run.id}}").unwrap();
        let beyond = |source: &str| {
            let template = Template::compile(source).unwrap();
            reads_beyond(&registry, &template, &["job", "host", "node"])
        };
        for within in [
            "ops+{{job.name}}@{{host.fqdn}}",
            "{{lower job.name}}{{#if node}}-{{node}}{{/if}}@example.com",
            "{{#with job}}{{name}}{{/with}}@example.com",
            "{{#each host.disks}}{{mount}}{{/each}}@example.com",
            "{{> who}}@example.com",
        ] {
            assert!(!beyond(within), "{within}");
        }
        for past in [
            "{{#if summary.all_ok}}ok{{/if}}@example.com",
            "{{lower results.0.stdout}}@example.com",
            "{{#with job}}{{../run.id}}{{/with}}@example.com",
            "{{@root.previous}}@example.com",
            "{{this}}@example.com",
            "{{> when}}@example.com",
        ] {
            assert!(beyond(past), "{past}");
        }
    }

    #[test]
    fn partial_names_are_found() {
        let mut names = HashSet::new();
        assert!(partials_used(
            "a {{> head}} b {{~#> frame title=x}}{{/frame}} {{>tail~}}",
            &mut names
        ));
        let mut sorted: Vec<_> = names.into_iter().collect();
        sorted.sort();
        assert_eq!(sorted, ["frame", "head", "tail"]);
        assert!(!partials_used(
            "{{> (lookup . \"name\")}}",
            &mut HashSet::new()
        ));
    }
}
