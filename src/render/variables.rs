//! What `check` finds in a template before it is ever rendered: variables that cannot
//! exist in the context (`{{job.nmae}}`), helpers and partials that do not exist. The
//! template is followed as rendering would go: `each` and `with` change the context,
//! `../` climbs out of them, `@root` goes to the top, partials see the context they are
//! included with. Where it cannot know (a block with block params, a helper's result it
//! does not know the shape of), it reports nothing: a false alarm would teach people to
//! ignore `check`.

use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use handlebars::template::{DecoratorTemplate, HelperTemplate, Parameter, TemplateElement};
use handlebars::{Handlebars, Template};

use crate::render::helpers;
use crate::render::scan::{raw, walk_inline};
use crate::render::schema::{Shape, helper_result};

/// One thing a template reads or calls that cannot exist.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Problem {
    /// The template or partial it is in (its registered name).
    pub template: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// What `template` (registered as `name` in `registry`) reads that `root`, the shape of
/// its context, cannot have; each problem once, in the order found.
pub fn unknown_variables(
    registry: &Handlebars<'static>,
    name: &str,
    template: &Template,
    root: Rc<Shape>,
) -> Vec<Problem> {
    let mut walk = Walk {
        registry,
        inline: HashMap::new(),
        problems: Vec::new(),
        seen: HashSet::new(),
        including: Vec::new(),
        partials_walked: 0,
    };
    walk.collect_inline(template, name);
    let mut frames = vec![Frame::of(root)];
    walk.template(template, name, (1, 1), &mut frames);
    walk.problems
}

/// One level of context, as Handlebars keeps a block per `each`, `with` and partial.
struct Frame {
    shape: Rc<Shape>,
    /// Names a partial's hash arguments add (`{{> usage-bar value=...}}`).
    extra: Vec<String>,
}

impl Frame {
    fn of(shape: Rc<Shape>) -> Frame {
        Frame {
            shape,
            extra: Vec::new(),
        }
    }

    fn any() -> Frame {
        Frame::of(Rc::new(Shape::Any))
    }
}

/// Bounds the work on templates that include partials very often.
const MAX_PARTIALS_WALKED: usize = 10_000;

struct Walk<'a> {
    registry: &'a Handlebars<'static>,
    /// Partials defined with `{{#*inline}}`, with the template they are written in.
    inline: HashMap<String, (&'a Template, String)>,
    problems: Vec<Problem>,
    seen: HashSet<Problem>,
    /// The partials being walked, against cycles (which `check` reports on its own).
    including: Vec<String>,
    partials_walked: usize,
}

type Position = (usize, usize);

impl<'a> Walk<'a> {
    fn collect_inline(&mut self, template: &'a Template, file: &str) {
        let mut found = HashMap::new();
        walk_inline(template, &mut found);
        for (name, body) in found {
            self.inline
                .entry(name)
                .or_insert_with(|| (body, file.to_owned()));
        }
    }

    fn report(&mut self, file: &str, at: Position, message: String) {
        let problem = Problem {
            template: file.to_owned(),
            line: at.0,
            column: at.1,
            message,
        };
        if self.seen.insert(problem.clone()) {
            self.problems.push(problem);
        }
    }

    /// `at`: where the element holding `template` is, for elements without a position
    /// of their own (an `{{else if}}` chain).
    fn template(
        &mut self,
        template: &'a Template,
        file: &str,
        at: Position,
        frames: &mut Vec<Frame>,
    ) {
        for (i, element) in template.elements.iter().enumerate() {
            let at = template.mapping.get(i).map_or(at, |m| (m.0, m.1));
            match element {
                TemplateElement::Expression(h) | TemplateElement::HtmlExpression(h) => {
                    self.helper(h, false, file, at, frames);
                }
                TemplateElement::HelperBlock(h) => self.helper(h, true, file, at, frames),
                TemplateElement::PartialExpression(d) | TemplateElement::PartialBlock(d) => {
                    self.partial(d, file, at, frames);
                }
                // Inline partials are walked where they are included, in that context.
                _ => {}
            }
        }
    }

    fn is_helper(name: &str) -> bool {
        helpers::find(name).is_some()
    }

    fn helper(
        &mut self,
        h: &'a HelperTemplate,
        block: bool,
        file: &str,
        at: Position,
        frames: &mut Vec<Frame>,
    ) {
        let name = match &h.name {
            Parameter::Name(name) => name.as_str(),
            Parameter::Path(path) => {
                // `{{job.name}}`, or a block named by a path (its context is unknown).
                self.path(raw(path), file, at, frames);
                if block {
                    self.blocks(h, None, file, at, frames);
                }
                return;
            }
            _ => return,
        };
        let name_only = !block && h.params.is_empty() && h.hash.is_empty();
        if !Self::is_helper(name) {
            if name_only {
                self.path(name, file, at, frames);
            } else {
                self.report(file, at, format!("unknown helper `{name}`"));
            }
            return;
        }
        let params: Vec<Rc<Shape>> = h
            .params
            .iter()
            .map(|p| self.parameter(p, file, at, frames))
            .collect();
        for value in h.hash.values() {
            self.parameter(value, file, at, frames);
        }
        if block {
            let inner = match name {
                "if" | "unless" => None,
                _ if h.block_param.is_some() => Some(Frame::any()),
                "each" => Some(Frame::of(
                    params.first().map_or(Rc::new(Shape::Any), |p| p.item()),
                )),
                "with" => Some(Frame::of(
                    params.first().cloned().unwrap_or(Rc::new(Shape::Any)),
                )),
                _ => Some(Frame::any()),
            };
            self.blocks(h, inner, file, at, frames);
        }
    }

    /// A block's body in the `inner` context (`None`: the same one), and its `{{else}}`
    /// in the outer one.
    fn blocks(
        &mut self,
        h: &'a HelperTemplate,
        inner: Option<Frame>,
        file: &str,
        at: Position,
        frames: &mut Vec<Frame>,
    ) {
        if let Some(body) = &h.template {
            let pushed = inner.is_some();
            frames.extend(inner);
            self.template(body, file, at, frames);
            if pushed {
                frames.pop();
            }
        }
        if let Some(inverse) = &h.inverse {
            self.template(inverse, file, at, frames);
        }
    }

    /// The shape a parameter gives; unknown variables in it are reported.
    fn parameter(
        &mut self,
        parameter: &'a Parameter,
        file: &str,
        at: Position,
        frames: &mut Vec<Frame>,
    ) -> Rc<Shape> {
        match parameter {
            Parameter::Name(name) => self.path(name, file, at, frames),
            Parameter::Path(path) => self.path(raw(path), file, at, frames),
            Parameter::Literal(_) => Rc::new(Shape::Scalar),
            Parameter::Subexpression(sub) => match sub.as_element() {
                TemplateElement::Expression(h) => {
                    let Parameter::Name(name) = &h.name else {
                        return Rc::new(Shape::Any);
                    };
                    if !Self::is_helper(name) {
                        self.report(file, at, format!("unknown helper `{name}`"));
                        return Rc::new(Shape::Any);
                    }
                    let params: Vec<Rc<Shape>> = h
                        .params
                        .iter()
                        .map(|p| self.parameter(p, file, at, frames))
                        .collect();
                    for value in h.hash.values() {
                        self.parameter(value, file, at, frames);
                    }
                    helper_result(name, &params)
                }
                _ => Rc::new(Shape::Any),
            },
            _ => Rc::new(Shape::Any),
        }
    }

    /// The shape at the variable path `raw`, reporting it when it cannot exist.
    fn path(&mut self, raw: &str, file: &str, at: Position, frames: &[Frame]) -> Rc<Shape> {
        let mut rest = raw;
        let mut up = 0;
        let candidates: Vec<&Frame> = if let Some(after) = rest.strip_prefix("@root") {
            rest = after.trim_start_matches(['.', '/']);
            frames.first().into_iter().collect()
        } else if rest.starts_with('@') {
            // @index, @key, @first, @last: set by `each`.
            return Rc::new(Shape::Scalar);
        } else {
            while let Some(after) = rest.strip_prefix("../") {
                rest = after;
                up += 1;
            }
            if up >= frames.len() {
                return Rc::new(Shape::Any);
            }
            let at = frames.len() - 1 - up;
            if up == 0 {
                vec![&frames[at]]
            } else {
                // The levels `../` climbs follow Handlebars' blocks; should they differ from
                // the ones counted here, any outer level that has the path will do.
                frames[..=at].iter().rev().collect()
            }
        };
        for prefix in ["this.", "this/", "./"] {
            if let Some(after) = rest.strip_prefix(prefix) {
                rest = after;
            }
        }
        if rest.starts_with('@') {
            return Rc::new(Shape::Scalar);
        }
        let segments = segments(rest);
        let mut first_failure = None;
        for frame in &candidates {
            match resolve(frame, &segments) {
                Ok(shape) => return shape,
                Err(failure) => {
                    first_failure.get_or_insert(failure);
                }
            }
        }
        if let Some((known, parent)) = first_failure {
            let hint = match (parent.keys(), known) {
                (Some(keys), 0) => format!(" (here: {})", keys.join(", ")),
                (Some(keys), n) => {
                    format!(" (`{}` has {})", segments[..n].join("."), keys.join(", "))
                }
                (None, 0) => String::new(),
                (None, n) => format!(" (`{}` has no fields)", segments[..n].join(".")),
            };
            self.report(file, at, format!("unknown variable {raw}{hint}"));
        }
        Rc::new(Shape::Any)
    }

    fn partial(
        &mut self,
        d: &'a DecoratorTemplate,
        file: &str,
        at: Position,
        frames: &mut Vec<Frame>,
    ) {
        let name = match &d.name {
            Parameter::Name(name) => name.clone(),
            Parameter::Path(path) => raw(path).to_owned(),
            // Picked at render time.
            _ => return,
        };
        let context = d
            .params
            .first()
            .map(|p| self.parameter(p, file, at, frames))
            .unwrap_or_else(|| {
                frames
                    .last()
                    .map_or(Rc::new(Shape::Any), |f| Rc::clone(&f.shape))
            });
        let extra: Vec<String> = d.hash.keys().cloned().collect();
        for value in d.hash.values() {
            self.parameter(value, file, at, frames);
        }
        if name == "@partial-block" || self.including.contains(&name) {
            return;
        }
        let found = match self.inline.get(&name) {
            Some((body, written_in)) => Some((*body, written_in.clone())),
            None => self.registry.get_template(&name).map(|t| (t, name.clone())),
        };
        let Some((body, body_file)) =
            found.or_else(|| d.template.as_ref().map(|t| (t, file.to_owned())))
        else {
            self.report(file, at, format!("unknown partial `{name}`"));
            return;
        };
        self.partials_walked += 1;
        if self.partials_walked > MAX_PARTIALS_WALKED {
            return;
        }
        self.collect_inline(body, &body_file);
        frames.push(Frame {
            shape: context,
            extra,
        });
        self.including.push(name);
        self.template(body, &body_file, at, frames);
        if let Some(block) = &d.template
            && !std::ptr::eq(block, body)
        {
            self.template(block, file, at, frames);
        }
        self.including.pop();
        frames.pop();
    }
}

/// The segments of a path: `results.[0].stdout` → `results`, `0`, `stdout`.
fn segments(path: &str) -> Vec<String> {
    let mut segments = Vec::new();
    let mut rest = path;
    while !rest.is_empty() {
        if let Some(inner) = rest.strip_prefix('[') {
            let end = inner.find(']').unwrap_or(inner.len());
            segments.push(inner[..end].to_owned());
            rest = inner.get(end + 1..).unwrap_or("");
        } else {
            let end = rest.find(['.', '/']).unwrap_or(rest.len());
            if end > 0 && &rest[..end] != "this" {
                segments.push(rest[..end].to_owned());
            }
            rest = &rest[end..];
        }
        rest = rest.strip_prefix(['.', '/']).unwrap_or(rest);
    }
    segments
}

/// The shape at `segments` below `frame`, or how many segments were found and the shape
/// the next one is missing from.
fn resolve(frame: &Frame, segments: &[String]) -> Result<Rc<Shape>, (usize, Rc<Shape>)> {
    let mut shape = Rc::clone(&frame.shape);
    for (i, segment) in segments.iter().enumerate() {
        if i == 0 && frame.extra.contains(segment) {
            return Ok(Rc::new(Shape::Any));
        }
        match shape.get(segment) {
            Some(next) => shape = next,
            None => return Err((i, shape)),
        }
    }
    Ok(shape)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::schema::{digest_context, job_context};

    fn problems(partials: &[(&str, &str)], template: &str) -> Vec<String> {
        let mut registry = Handlebars::new();
        for (name, source) in partials {
            registry.register_partial(name, source).unwrap();
        }
        let compiled = Template::compile(template).unwrap();
        unknown_variables(&registry, "t", &compiled, job_context())
            .into_iter()
            .map(|p| format!("{}:{}:{}: {}", p.template, p.line, p.column, p.message))
            .collect()
    }

    #[test]
    fn paths_that_cannot_exist_are_found_with_their_position() {
        assert_eq!(
            problems(&[], "Hello {{job.nmae}}"),
            ["t:1:7: unknown variable job.nmae (`job` has description, name, schedule)"]
        );
        let found = problems(
            &[("rows", "{{#each host.disks}}\n{{mout}}{{/each}}")],
            "a\n{{#each results}}\n  {{stdot}} {{../job.name}} {{@root.summary.al_ok}}{{/each}}\n{{> rows}}{{bytes host.memory.totl}}{{#if (gt x 1)}}{{/if}}{{frobnicate 1}}{{> nowhere}}",
        );
        assert_eq!(
            found,
            [
                "t:3:3: unknown variable stdot (here: attempts, changed, command, data, diff, duration_ms, exit_code, expectations, host, matches, name, parse_error, signal, started_at, status, stderr, stderr_attachment, stdout, stdout_attachment, target, trends, truncated, values, values_text)",
                "t:3:29: unknown variable @root.summary.al_ok (`summary` has all_ok, duration_ms, error, failed, failed_expectation, ok, status, timeout, total)",
                "rows:2:1: unknown variable mout (here: available, days_to_full, device, fs, mount, percent, total, trend, used)",
                "t:4:11: unknown variable host.memory.totl (`host.memory` has available, percent, total, used)",
                "t:4:37: unknown variable x (here: disk_history, host, hosts, job, node, previous, results, run, section, summary)",
                "t:4:60: unknown helper `frobnicate`",
                "t:4:76: unknown partial `nowhere`",
            ]
        );
    }

    #[test]
    fn context_changes_are_followed_and_unsure_cases_pass() {
        let fine = [
            "{{#each results}}{{name}} {{this.stdout}} {{@index}} {{#each matches}}{{this}}{{/each}}{{/each}}",
            "{{#with host}}{{kernel}}{{#each disks}}{{mount}} {{../kernel}}{{/each}}{{/with}}",
            "{{#each results as |r|}}{{r.name}}{{/each}}",
            "{{#with (worst results)}}{{name}} {{status}}{{/with}}",
            "{{#each (group_by results \"status\")}}{{value}} {{count}}{{#each items}}{{target}} {{../value}}{{/each}}{{/each}}",
            "{{#each host.disks}}{{#each (lookup @root.disk_history mount)}}{{this.percent}} {{at}}{{/each}}{{/each}}",
            "{{#if previous}}{{previous.[0].status}}{{/if}} {{results.[1].stdout}}",
            "{{#each results}}{{else}}{{job.name}}{{/each}}",
            "{{#*inline \"r\"}}{{name}}{{/inline}}{{#each results}}{{> r}}{{/each}}",
            "{{> bar value=summary.ok}}",
            "{{#each hosts}}{{name}} {{summary.status}}{{#each results}}{{stdout}}{{/each}}{{/each}}",
            "{{#if (eq summary.status \"ok\")}}{{else if summary.failed}}{{node}}{{/if}}",
            "{{#each disk_history}}{{@key}}{{#each this}}{{percent}}{{/each}}{{/each}}",
            "{{#each (tally results \"status\")}}{{count}} {{value}}{{/each}}",
        ];
        for template in fine {
            assert_eq!(
                problems(&[("bar", "{{value}} {{job.name}}")], template),
                Vec::<String>::new(),
                "{template}"
            );
        }
        let alone = problems(&[], "{{#each results}}{{count}}{{/each}}");
        assert!(
            alone.len() == 1 && alone[0].starts_with("t:1:18: unknown variable count (here: "),
            "{alone:?}"
        );
        assert_eq!(
            problems(&[], "{{#each results}}{{else}}{{name}}{{/each}}"),
            [
                "t:1:26: unknown variable name (here: disk_history, host, hosts, job, node, previous, results, run, section, summary)"
            ]
        );
    }

    #[test]
    fn every_helper_example_reads_only_what_a_job_context_has() {
        for helper in helpers::ALL {
            assert_eq!(
                problems(&[], helper.example),
                Vec::<String>::new(),
                "{}",
                helper.name
            );
        }
        assert_eq!(
            problems(&[], "{{nosuch 1}}"),
            ["t:1:1: unknown helper `nosuch`"]
        );
    }

    #[test]
    fn the_digest_has_its_own_context() {
        let registry = Handlebars::new();
        let template = Template::compile(
            "{{summary.jobs}}{{#each jobs}}{{job.name}}{{results.[0].name}}{{/each}}{{job.name}}",
        )
        .unwrap();
        let found = unknown_variables(&registry, "digest", &template, digest_context());
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].message.starts_with("unknown variable job.name"),
            "{found:?}"
        );
    }
}
