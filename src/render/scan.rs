//! Static scans of compiled templates, made before anything is rendered: which partials
//! a template includes (so a run compiles only those), and whether it reads the system
//! facts (so a run gathers them only then).

use std::collections::HashSet;

use handlebars::template::{Parameter, TemplateElement};
use handlebars::{Handlebars, Template};

/// Whether `template`, evaluated with the whole context as `this` and its partials found
/// in `registry`, reads `host` beyond `host.hostname` and `host.fqdn`.
pub fn reads_system_facts(registry: &Handlebars<'static>, template: &Template) -> bool {
    FactsScan {
        registry,
        partials: HashSet::new(),
    }
    .template(template, true)
}

/// Looks through a compiled template for reads of `host` other than `host.hostname` and
/// `host.fqdn`. When unsure (a block that changes the context climbed out of with `../`, a
/// construct it does not know) it says yes: gathering too much is only slower.
struct FactsScan<'a> {
    registry: &'a Handlebars<'static>,
    partials: HashSet<String>,
}

impl FactsScan<'_> {
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
                self.parameter(&h.name, root)
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
            Parameter::Name(name) => reads_facts(name, root),
            Parameter::Path(path) => reads_facts(raw(path), root),
            Parameter::Literal(_) => false,
            Parameter::Subexpression(sub) => self.element(sub.as_element(), root),
            _ => true,
        }
    }
}

fn raw(path: &handlebars::Path) -> &str {
    match path {
        handlebars::Path::Relative((_, raw)) => raw,
        handlebars::Path::Local(_) => "@local",
    }
}

/// Does the path `raw`, evaluated in the root context (`root`) or another one, read
/// system facts?
fn reads_facts(raw: &str, root: bool) -> bool {
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
        Some("host") => !matches!(segments.next(), Some("hostname" | "fqdn")),
        _ => false,
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
