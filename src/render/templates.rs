//! The Handlebars stage: the built-in `default` template, the templates folder, and rendering
//! in strict mode (a misspelt variable is an error, not an empty string).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use handlebars::{Handlebars, RenderContext, Renderable, Template, TemplateError, WriteOutput};
use serde::Serialize;

use crate::config::job::DEFAULT_TEMPLATE;
use crate::config::trust;
use crate::config::{ConfigError, Job};
use crate::render::scan::{self, Costly, Nesting, partials_used};
use crate::render::{helpers, schema, variables};
use crate::report::Scope;

/// The template a digest is rendered with: built in, replaced by `templates/digest.txt.hbs`
/// (and given an HTML version by `templates/digest.html.hbs`).
pub const DIGEST_TEMPLATE: &str = "digest";

const BUILTIN_DEFAULT: &str = include_str!("builtin/default.txt.hbs");
const BUILTIN_DIGEST: &str = include_str!("builtin/digest.txt.hbs");

/// A template that failed to render, located in its file where Handlebars knows where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    #[error("{file}:{line}:{column}: {reason}")]
    At {
        file: String,
        line: usize,
        column: usize,
        reason: String,
    },
    #[error("{file}: {reason}")]
    In { file: String, reason: String },
    /// A header template (subject, address), written inline in a job file.
    #[error("template {template:?}: {reason}")]
    Inline { template: String, reason: String },
    #[error("cannot prepare the template data: {0}")]
    Data(String),
}

/// Every template of a templates folder, compiled.
///
/// A report template (`NAME.txt.hbs`, `NAME.html.hbs`, the built-in ones) and a partial
/// (`partials/NAME.txt.hbs`) may share a name: `mail.template: disks` renders
/// `templates/disks.txt.hbs`, and `{{> disks}}` includes the partial. So the report
/// templates are kept apart from the registries, which hold only the partials that
/// `{{> NAME}}` finds there (Handlebars keeps templates and partials under one name, and
/// the partial, registered last, would replace the template).
pub struct Templates {
    dir: PathBuf,
    /// The file each template and partial was read from, by registry (`txt`, `html`) and
    /// the name it is compiled under: [`compiled_name`] for a report template, its own
    /// name for a partial.
    files: HashMap<(&'static str, String), PathBuf>,
    /// The report templates, compiled, by registry and name.
    reports: HashMap<(&'static str, String), Template>,
    /// The report templates, by registry and name, in the order `check` reports them.
    names: Vec<(&'static str, String)>,
    /// The partials and helpers of `NAME.txt.hbs` and of inline header templates: never
    /// HTML-escaped.
    text: Handlebars<'static>,
    /// The partials and helpers of `NAME.html.hbs`: HTML-escaped.
    html: Handlebars<'static>,
    /// Templates whose partials cannot be rendered (they include each other, or nest too
    /// deep), by registry and name: rendering them is an error, not a stack overflow.
    nesting: HashMap<(&'static str, String), Nesting>,
    /// For a run (which compiles only what its jobs use) without a `default.txt.hbs` of
    /// its own: the built-in default, compiled the first time a report is rendered with
    /// it ([`Templates::fallback`]), not before the commands start.
    fallback: OnceLock<Template>,
    /// The templates rendered from their text (subjects, addresses and ping URLs written
    /// in job files, webhook bodies), compiled once each for the scans and every message
    /// of a run, or of a daemon's runs until it reloads.
    inline: Mutex<HashMap<String, Arc<Template>>>,
}

impl Templates {
    /// Compiles the built-in template and everything in `dir` (which need not exist);
    /// every broken file is reported.
    pub fn load(dir: &Path) -> Result<Templates, Vec<ConfigError>> {
        let (templates, mut errors) = Templates::load_some(dir, None);
        errors.extend(templates.nesting_problems());
        if errors.is_empty() {
            Ok(templates)
        } else {
            Err(errors)
        }
    }

    /// The templates whose partials include each other or nest too deep, as `check`
    /// reports them (a run renders them as errors): a cycle once, at its first partial.
    pub fn nesting_problems(&self) -> Vec<ConfigError> {
        let mut seen = HashSet::new();
        let mut nesting: Vec<_> = self.nesting.iter().collect();
        nesting.sort_by_key(|(key, _)| *key);
        let mut errors = Vec::new();
        for ((kind, name), problem) in nesting {
            // Located at the first inclusion on the way: the one to change, in a partial
            // of the cycle or in the template a chain too deep starts from.
            let (at, template, includes) = match problem {
                Nesting::Cycle(names) => (
                    names[0].clone(),
                    self.registry(kind).get_template(&names[0]),
                    &names[1],
                ),
                Nesting::TooDeep(chain) => (
                    compiled_name(kind, name),
                    self.report(kind, name),
                    &chain[0],
                ),
            };
            if seen.insert(problem.to_string()) {
                let mut error =
                    ConfigError::new(Path::new(&self.file_of(kind, &at)), problem.to_string());
                error.location = template.and_then(|t| scan::include_position(t, includes));
                errors.push(error);
            }
        }
        errors
    }

    /// Like [`Templates::load`], but compiles only the templates named in `wanted` (text and
    /// HTML) and the partials they use: compiling is most of the cost of loading, and a run
    /// of one job needs one template. `None` compiles everything (for `check`). A broken
    /// file is reported and left out; the others are usable.
    pub fn load_some(dir: &Path, wanted: Option<&[&str]>) -> (Templates, Vec<ConfigError>) {
        let mut loader = Loader::new(wanted);
        for (path, file_name) in files_in(dir, &mut loader.errors) {
            let wanted = |name: &&str| wanted.is_none_or(|names| names.contains(name));
            if let Some(name) = file_name.strip_suffix(".txt.hbs").filter(wanted) {
                loader.register(TEXT, name, &path, Role::Report);
            } else if let Some(name) = file_name.strip_suffix(".html.hbs").filter(wanted) {
                loader.register(HTML, name, &path, Role::Report);
            }
        }
        loader.partials(&dir.join("partials"));
        // A broken partial is registered twice (text and HTML) but reported once.
        loader.errors.dedup();
        let mut nesting = HashMap::new();
        for (kind, name) in &loader.templates {
            let registry = if *kind == TEXT {
                &loader.text
            } else {
                &loader.html
            };
            let key = (*kind, name.clone());
            if let Some(template) = loader.reports.get(&key)
                && let Err(problem) = scan::partial_nesting(registry, template)
            {
                nesting.insert(key, problem);
            }
        }
        let templates = Templates {
            dir: dir.to_owned(),
            files: loader.files,
            reports: loader.reports,
            names: loader.templates,
            text: loader.text,
            html: loader.html,
            nesting,
            fallback: OnceLock::new(),
            inline: Mutex::new(HashMap::new()),
        };
        (templates, loader.errors)
    }

    /// Is there a text template called `name` (a file, or the built-in `default`)?
    pub fn has_text(&self, name: &str) -> bool {
        name == DEFAULT_TEMPLATE || self.report(TEXT, name).is_some()
    }

    /// Where the text template `name` is expected, for error messages.
    pub fn text_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.txt.hbs"))
    }

    /// Is there an HTML template called `name`?
    pub fn has_html(&self, name: &str) -> bool {
        self.report(HTML, name).is_some()
    }

    /// The report template `name` of the `kind` registry, compiled.
    fn report(&self, kind: &'static str, name: &str) -> Option<&Template> {
        self.reports.get(&(kind, name.to_owned()))
    }

    /// Where the HTML template `name` is expected, for error messages.
    pub fn html_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.html.hbs"))
    }

    pub fn render_text(&self, name: &str, context: &impl Serialize) -> Result<String, RenderError> {
        self.render_text_in(name, &Self::prepare(context)?)
    }

    /// The template data of `context`, converted once for several renderings (the body,
    /// the subject, every address) instead of once each.
    pub fn prepare(context: &impl Serialize) -> Result<handlebars::Context, RenderError> {
        handlebars::Context::wraps(context).map_err(|e| RenderError::Data(e.reason().to_string()))
    }

    pub fn render_text_in(
        &self,
        name: &str,
        context: &handlebars::Context,
    ) -> Result<String, RenderError> {
        self.check_nesting(TEXT, name)?;
        let template = match self.report(TEXT, name) {
            Some(template) => template,
            None if name == DEFAULT_TEMPLATE => self.fallback(),
            None => {
                return Err(RenderError::In {
                    file: self.dir.display().to_string(),
                    reason: format!("unknown template `{name}`"),
                });
            }
        };
        render_sized(&self.text, template, context).map_err(|e| self.render_error(&e, TEXT))
    }

    /// The built-in default, the template of jobs without one of their own and the one
    /// every report falls back to when its own fails: compiled on first use (compiling is
    /// most of a run's start-up, and it reads nothing a scan looks for:
    /// `the_built_in_default_reads_neither_the_system_facts_nor_previous`).
    fn fallback(&self) -> &Template {
        self.fallback
            .get_or_init(|| compile_builtin(DEFAULT_TEMPLATE, BUILTIN_DEFAULT))
    }

    /// The HTML alternative, when `templates/NAME.html.hbs` exists.
    pub fn render_html(
        &self,
        name: &str,
        context: &impl Serialize,
    ) -> Option<Result<String, RenderError>> {
        let prepared = match Self::prepare(context) {
            Ok(prepared) => prepared,
            Err(e) => return self.has_html(name).then_some(Err(e)),
        };
        self.render_html_in(name, &prepared)
    }

    pub fn render_html_in(
        &self,
        name: &str,
        context: &handlebars::Context,
    ) -> Option<Result<String, RenderError>> {
        self.report(HTML, name).map(|template| {
            self.check_nesting(HTML, name)?;
            render_sized(&self.html, template, context).map_err(|e| self.render_error(&e, HTML))
        })
    }

    /// Renders a header template (subject, address) without escaping.
    pub fn render_inline(
        &self,
        template: &str,
        context: &impl Serialize,
    ) -> Result<String, RenderError> {
        self.render_inline_in(template, &Self::prepare(context)?)
    }

    pub fn render_inline_in(
        &self,
        template: &str,
        context: &handlebars::Context,
    ) -> Result<String, RenderError> {
        let failed = |e: handlebars::RenderError| RenderError::Inline {
            template: template.to_owned(),
            reason: humane(e.reason()),
        };
        let compiled = self
            .inline_template(template)
            .map_err(|e| failed(e.into()))?;
        let mut out = handlebars::StringOutput::new();
        compiled
            .render(&self.text, context, &mut RenderContext::new(None), &mut out)
            .map_err(failed)?;
        out.into_string().map_err(|e| failed(e.into()))
    }

    /// Takes the subjects the jobs compiled when they loaded, so that no run, check or
    /// daemon compiles one again.
    pub fn adopt_subjects(&self, jobs: &[Job]) {
        let mut compiled = self.inline.lock().unwrap_or_else(PoisonError::into_inner);
        for mail in jobs.iter().map(|job| &job.mail) {
            if let Some(template) = &mail.compiled_subject {
                compiled
                    .entry(mail.subject.clone())
                    .or_insert_with(|| Arc::clone(template));
            }
        }
    }

    /// The header template `source`, compiled the first time it is asked for.
    fn inline_template(&self, source: &str) -> Result<Arc<Template>, TemplateError> {
        let mut compiled = self.inline.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(template) = compiled.get(source) {
            return Ok(Arc::clone(template));
        }
        let template = Arc::new(Template::compile(source)?);
        compiled.insert(source.to_owned(), Arc::clone(&template));
        Ok(template)
    }

    fn check_nesting(&self, kind: &'static str, name: &str) -> Result<(), RenderError> {
        match self.nesting.get(&(kind, name.to_owned())) {
            Some(problem) => Err(RenderError::In {
                file: self.file_of(kind, &compiled_name(kind, name)),
                reason: problem.to_string(),
            }),
            None => Ok(()),
        }
    }

    /// The file the template or partial compiled as `name` came from, for messages.
    fn file_of(&self, kind: &'static str, name: &str) -> String {
        match self.files.get(&(kind, name.to_owned())) {
            Some(path) => path.display().to_string(),
            None if name == compiled_name(TEXT, DEFAULT_TEMPLATE) => {
                "(built-in default template)".to_owned()
            }
            None if name == compiled_name(TEXT, DIGEST_TEMPLATE) => {
                "(built-in digest template)".to_owned()
            }
            None => self
                .dir
                .join(format!("{name}.{kind}.hbs"))
                .display()
                .to_string(),
        }
    }

    fn render_error(&self, error: &handlebars::RenderError, kind: &'static str) -> RenderError {
        let file = match error.template_name.as_deref() {
            Some(name) => self.file_of(kind, name),
            None => self.dir.display().to_string(),
        };
        let reason = humane(error.reason());
        match (error.line_no, error.column_no) {
            (Some(line), Some(column)) => RenderError::At {
                file,
                line,
                column,
                reason,
            },
            _ => RenderError::In { file, reason },
        }
    }
}

impl Templates {
    /// The variables, helpers and partials every template reads that cannot exist in its
    /// context (reporter-templates(7)), as `check` reports them: file, line and column.
    pub fn unknown_variables(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        for (kind, name) in &self.names {
            let Some(template) = self.report(kind, name) else {
                continue;
            };
            let root = if name == DIGEST_TEMPLATE {
                schema::digest_context()
            } else {
                schema::job_context()
            };
            let compiled = compiled_name(kind, name);
            let registry = self.registry(kind);
            for problem in variables::unknown_variables(registry, &compiled, template, root) {
                errors.push(ConfigError {
                    path: PathBuf::from(self.file_of(kind, &problem.template)),
                    location: Some((problem.line, problem.column)),
                    key: None,
                    message: problem.message,
                });
            }
        }
        errors.dedup();
        errors
    }

    /// The same for a header template written in a job file (`mail.subject`): the problems
    /// as `LINE:COLUMN: MESSAGE` within it.
    pub fn unknown_inline_variables(&self, source: &str) -> Vec<String> {
        let Ok(template) = self.inline_template(source) else {
            // Rendering reports what does not compile.
            return Vec::new();
        };
        variables::unknown_variables(&self.text, "", &template, schema::job_context())
            .into_iter()
            .map(|p| format!("{}:{}: {}", p.line, p.column, p.message))
            .collect()
    }

    /// Whether the header template `source` reads no variable of its context but those
    /// under `known`; not when it does not compile, nor when that cannot be told.
    pub fn inline_reads_only(&self, source: &str, known: &[&str]) -> bool {
        self.inline_template(source)
            .is_ok_and(|template| !scan::reads_beyond(&self.text, &template, known))
    }

    fn registry(&self, kind: &str) -> &Handlebars<'static> {
        if kind == TEXT { &self.text } else { &self.html }
    }

    /// Which facts the template `name` (text and HTML versions) reads.
    pub fn template_scope(&self, name: &str) -> Scope {
        if self.template_reads(name, Costly::SystemFacts) {
            Scope::Full
        } else {
            Scope::Names
        }
    }

    /// What a report of `job` reads of what costs something to have: what its templates
    /// (body, HTML alternative, partials, subject and addresses) read, each header
    /// template compiled once for both questions. A webhook's template is read only when
    /// it is posted, so a job with one is taken to read both.
    pub fn reads(&self, job: &Job) -> Reads {
        let [facts, previous] = self.job_reads(job, &[Costly::SystemFacts, Costly::Previous]);
        let hook_template = job.webhooks.iter().any(|hook| hook.template.is_some());
        Reads {
            facts: if facts || hook_template {
                Scope::Full
            } else {
                Scope::Names
            },
            previous: previous || hook_template,
        }
    }

    /// Whether one of `job`'s templates (body, HTML alternative, subject and addresses)
    /// reads each of `parts`.
    fn job_reads<const N: usize>(&self, job: &Job, parts: &[Costly; N]) -> [bool; N] {
        let mail = &job.mail;
        let inline: Vec<Arc<Template>> = [&mail.subject, mail.from.as_str()]
            .into_iter()
            .chain(mail.reply_to.as_ref().map(|a| a.as_str()))
            .chain(mail.to.iter().chain(&mail.cc).map(|a| a.as_str()))
            // Unparsable inline templates fail when rendered; they read nothing here.
            .filter_map(|source| self.inline_template(source).ok())
            .collect();
        parts.map(|part| {
            inline.iter().any(|t| scan::reads(&self.text, t, part))
                || self.template_reads(&mail.template, part)
        })
    }

    /// Whether the template `name` (text or HTML version) reads `part`.
    fn template_reads(&self, name: &str, part: Costly) -> bool {
        [TEXT, HTML].into_iter().any(|kind| {
            self.report(kind, name)
                .is_some_and(|t| scan::reads(self.registry(kind), t, part))
        })
    }
}

/// What the templates of one job's report read of what costs something to have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reads {
    /// Which facts: gathering the system part costs a few milliseconds.
    pub facts: Scope,
    /// Whether `previous`, the last run's results: their outputs may be as long as
    /// `max_output`, and are dropped once the new ones are compared with them otherwise.
    pub previous: bool,
}

/// Renders the report template `template`, its partials found in `registry`, into a buffer
/// with room for the outputs of `context`'s results and some text around them: grown from
/// small, a long report would end in a buffer of up to twice its size, while its context
/// and results are held too.
fn render_sized(
    registry: &Handlebars<'static>,
    template: &Template,
    context: &handlebars::Context,
) -> Result<String, handlebars::RenderError> {
    let outputs: usize = context.data()["results"].as_array().map_or(0, |results| {
        results
            .iter()
            .flat_map(|r| [&r["stdout"], &r["stderr"]])
            .filter_map(serde_json::Value::as_str)
            .map(str::len)
            .sum()
    });
    let mut out = Vec::with_capacity(outputs + outputs / 8 + (8 << 10));
    let mut render_context = RenderContext::new(template.name.as_ref());
    template.render(
        registry,
        context,
        &mut render_context,
        &mut WriteOutput::new(&mut out),
    )?;
    // Handlebars writes only `str`s.
    Ok(String::from_utf8(out)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
}

/// The two registries, by the name their files end in.
const TEXT: &str = "txt";
const HTML: &str = "html";

/// The name the report template `name` of the `kind` registry is compiled under, which
/// Handlebars' messages give: never a partial's, since a partial is named after its file
/// and a file name holds no `/`. So an error, a scan or Handlebars' rule that a template
/// cannot include itself never takes the template for the partial of the same name.
fn compiled_name(kind: &str, name: &str) -> String {
    format!("{kind}/{name}")
}

/// The built-in text template `name`, compiled from `source`.
fn compile_builtin(name: &str, source: &str) -> Template {
    Template::compile_with_name(source, compiled_name(TEXT, name))
        .expect("the built-in templates compile")
}

/// A registry in strict mode with the helpers, escaping HTML or not.
fn registry(escape: fn(&str) -> String) -> Handlebars<'static> {
    let mut registry = Handlebars::new();
    registry.set_strict_mode(true);
    registry.register_escape_fn(escape);
    helpers::register(&mut registry);
    registry
}

/// Templates being loaded: what is registered so far, what failed, and which partials the
/// wanted templates need.
struct Loader {
    /// The partials and helpers, by the registry they are for.
    text: Handlebars<'static>,
    html: Handlebars<'static>,
    /// The report templates compiled, by registry and name.
    reports: HashMap<(&'static str, String), Template>,
    /// The file each template and partial was read from, by registry and the name it is
    /// compiled under.
    files: HashMap<(&'static str, String), PathBuf>,
    errors: Vec<ConfigError>,
    /// The partials the wanted templates use, found as their files are read; `None`: all.
    used: Option<HashSet<String>>,
    /// The report templates (not partials) compiled, by registry and name, in order.
    templates: Vec<(&'static str, String)>,
}

/// What a file of the templates folder is: a report template (`mail.template: NAME`) or
/// a partial (`{{> NAME}}`). The two are kept apart, and may share a name.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Report,
    Partial,
}

impl Loader {
    /// A loader with the built-in templates that are wanted: the digest's, and with
    /// `wanted` `None` (everything, for `check` and the daemon) `default` too; a run
    /// compiles that one when it renders with it ([`Templates::fallback`]). `wanted`: only
    /// the partials that turn out to be used are read; `None`: everything.
    fn new(wanted: Option<&[&str]>) -> Loader {
        // Compiling is most of the cost of loading: a run skips what it does not use.
        let builtins: Vec<(&str, &str)> = [
            (DEFAULT_TEMPLATE, BUILTIN_DEFAULT),
            (DIGEST_TEMPLATE, BUILTIN_DIGEST),
        ]
        .into_iter()
        .filter(|(name, _)| match wanted {
            None => true,
            Some(names) => *name != DEFAULT_TEMPLATE && names.contains(name),
        })
        .collect();
        let mut reports = HashMap::new();
        let mut used = wanted.is_some().then(HashSet::new);
        for (name, source) in &builtins {
            reports.insert((TEXT, (*name).to_owned()), compile_builtin(name, source));
            if let Some(names) = used.as_mut() {
                // The built-in templates may use partials a folder provides.
                partials_used(source, names);
            }
        }
        Loader {
            text: registry(handlebars::no_escape),
            html: registry(handlebars::html_escape),
            reports,
            files: HashMap::new(),
            errors: Vec::new(),
            used,
            templates: builtins
                .iter()
                .map(|(name, _)| (TEXT, (*name).to_owned()))
                .collect(),
        }
    }

    fn needs(&self, partial: &str) -> bool {
        self.used.as_ref().is_none_or(|used| used.contains(partial))
    }

    /// Reads, checks and compiles one file for the `kind` registry: a report template
    /// apart, a partial into the registry.
    fn register(&mut self, kind: &'static str, name: &str, path: &Path, role: Role) {
        let source = match trust::read_trusted(path, None) {
            Ok(source) => source,
            Err(e) => return self.errors.push(ConfigError::new(path, e.to_string())),
        };
        if let Some(names) = self.used.as_mut()
            && !partials_used(&source, names)
        {
            // A partial chosen at render time: any of them may be needed.
            self.used = None;
        }
        let compiled = match role {
            Role::Partial => name.to_owned(),
            Role::Report => compiled_name(kind, name),
        };
        let result = match role {
            Role::Partial if kind == TEXT => self.text.register_partial(name, source),
            Role::Partial => self.html.register_partial(name, source),
            Role::Report => Template::compile_with_name(source, compiled.clone()).map(|template| {
                let key = (kind, name.to_owned());
                // A file that replaces a built-in template is listed already.
                if self.reports.insert(key.clone(), template).is_none() {
                    self.templates.push(key);
                }
            }),
        };
        match result {
            Ok(()) => {
                self.files.insert((kind, compiled), path.to_owned());
            }
            Err(e) => self.errors.push(template_error(path, &e)),
        }
    }

    /// The partials in `dir` that are needed. Partials use partials: they are read until no
    /// new name turns up.
    fn partials(&mut self, dir: &Path) {
        let files = files_in(dir, &mut self.errors);
        let mut registered: HashSet<(&'static str, String)> = HashSet::new();
        loop {
            let before = registered.len();
            let was_all = self.used.is_none();
            for (path, file_name) in &files {
                // `NAME.txt.hbs` and `NAME.html.hbs` are the two versions of one partial;
                // `NAME.hbs` serves both.
                let (name, kinds): (&str, &[&'static str]) =
                    if let Some(name) = file_name.strip_suffix(".txt.hbs") {
                        (name, &[TEXT])
                    } else if let Some(name) = file_name.strip_suffix(".html.hbs") {
                        (name, &[HTML])
                    } else if let Some(name) = file_name.strip_suffix(".hbs") {
                        (name, &[TEXT, HTML])
                    } else {
                        continue;
                    };
                for &kind in kinds {
                    if !self.needs(name) || !registered.insert((kind, name.to_owned())) {
                        continue;
                    }
                    self.register(kind, name, path, Role::Partial);
                }
            }
            if registered.len() == before && was_all == self.used.is_none() {
                break;
            }
        }
    }
}

/// A render error as people read it: `unknown variable job.nmae`, not Handlebars'
/// `Failed to access variable in strict mode Some("job.nmae")`.
fn humane(reason: &handlebars::RenderErrorReason) -> String {
    use handlebars::RenderErrorReason as Reason;
    match reason {
        Reason::MissingVariable(Some(path)) => format!("unknown variable {path}"),
        Reason::MissingVariable(None) => "unknown variable".to_owned(),
        Reason::HelperNotFound(name) => format!("unknown helper `{name}`"),
        Reason::PartialNotFound(name) => format!("unknown partial `{name}`"),
        Reason::TemplateNotFound(name) => format!("unknown template `{name}`"),
        Reason::DecoratorNotFound(name) => format!("unknown decorator `{name}`"),
        other => other.to_string(),
    }
}

fn template_error(path: &Path, error: &TemplateError) -> ConfigError {
    ConfigError {
        path: path.to_owned(),
        location: error.pos(),
        key: None,
        message: error.reason().to_string(),
    }
}

/// The files in `dir` with their names, sorted; none if it does not exist.
fn files_in(dir: &Path, errors: &mut Vec<ConfigError>) -> Vec<(PathBuf, String)> {
    // As root, a folder others could swap files in is refused with all it holds.
    if let Err(e) = trust::check_folder(dir) {
        errors.push(ConfigError::new(dir, e.to_string()));
        return Vec::new();
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<(PathBuf, String)> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| !t.is_dir()))
        .filter_map(|e| Some((e.path(), e.file_name().into_string().ok()?)))
        .filter(|(_, name)| !name.starts_with('.'))
        .collect();
    files.sort();
    files
}

#[cfg(test)]
mod tests {

    #[test]
    fn loading_some_compiles_what_they_use_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("partials")).unwrap();
        std::fs::write(dir.path().join("partials/outer.hbs"), "[{{> inner}}]").unwrap();
        std::fs::write(dir.path().join("partials/inner.hbs"), "{{who}}").unwrap();
        std::fs::write(dir.path().join("partials/broken.hbs"), "{{#if}}").unwrap();
        std::fs::write(dir.path().join("used.txt.hbs"), "{{> outer}}").unwrap();
        std::fs::write(dir.path().join("other.txt.hbs"), "{{#each}}").unwrap();
        let (templates, errors) = Templates::load_some(dir.path(), Some(&["used"]));
        assert!(errors.is_empty(), "{errors:?}");
        let out = templates
            .render_text("used", &serde_json::json!({"who": "ops"}))
            .unwrap();
        assert_eq!(out, "[ops]");
        assert!(!templates.has_text("other"));
        let (_, errors) = Templates::load_some(dir.path(), None);
        assert_eq!(errors.len(), 2, "{errors:?}");
    }

    #[test]
    fn the_built_in_default_is_there_to_fall_back_to_even_when_no_job_uses_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("own.txt.hbs"), "own").unwrap();
        let (templates, errors) = Templates::load_some(dir.path(), Some(&["own"]));
        assert!(errors.is_empty(), "{errors:?}");
        assert!(
            templates.report(TEXT, DEFAULT_TEMPLATE).is_none(),
            "not compiled up front"
        );
        assert!(templates.has_text(DEFAULT_TEMPLATE));
        let context = serde_json::json!({
            "job": {"name": "disk"}, "host": {"fqdn": "vm"}, "node": null,
            "summary": {"status": "ok", "total": 0, "ok": 0, "failed": 0, "timeout": 0,
                        "error": 0, "duration_ms": 5},
            "run": {"interrupted": false, "recovered": false, "id": "r", "trigger": "manual",
                    "started_at": "a", "finished_at": "b"},
            "hosts": [], "results": [], "section": false,
        });
        let text = templates.render_text(DEFAULT_TEMPLATE, &context).unwrap();
        assert!(text.starts_with("disk on vm: ok"), "{text}");
    }

    use super::*;

    #[test]
    fn text_is_not_escaped_and_strict_mode_names_the_variable() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("t.txt.hbs"), "{{out}}\n{{missing}}\n").unwrap();
        std::fs::write(dir.path().join("t.html.hbs"), "<p>{{out}}</p>").unwrap();
        let templates = Templates::load(dir.path()).unwrap();
        let context = serde_json::json!({"out": "a < b & c"});
        let err = templates
            .render_text("t", &context)
            .unwrap_err()
            .to_string();
        assert!(err.contains("t.txt.hbs:2:"), "{err}");
        assert!(err.contains("missing"), "{err}");
        let html = templates.render_html("t", &context).unwrap().unwrap();
        assert_eq!(html, "<p>a &lt; b &amp; c</p>");
        assert_eq!(
            templates.render_inline("{{out}}", &context).unwrap(),
            "a < b & c"
        );
    }

    #[test]
    fn render_errors_in_partials_name_the_partial_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("partials")).unwrap();
        std::fs::write(dir.path().join("partials/rows.html.hbs"), "\n{{bytes x}}").unwrap();
        std::fs::write(dir.path().join("t.txt.hbs"), "text").unwrap();
        std::fs::write(dir.path().join("t.html.hbs"), "{{> rows}}").unwrap();
        let templates = Templates::load(dir.path()).unwrap();
        let err = templates
            .render_html("t", &serde_json::json!({"x": "many"}))
            .unwrap()
            .unwrap_err()
            .to_string();
        let expected = format!(
            "{}:2:1: `bytes`: expected a number, got \"many\"",
            dir.path().join("partials/rows.html.hbs").display()
        );
        assert_eq!(err, expected);
    }

    #[test]
    fn syntax_errors_have_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("bad.txt.hbs"), "ok\n{{#each results}}\n").unwrap();
        let errors = Templates::load(dir.path()).err().unwrap();
        let shown = errors[0].to_string();
        assert!(shown.contains("bad.txt.hbs:"), "{shown}");
    }

    #[test]
    fn partials_are_shared() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("partials")).unwrap();
        std::fs::write(dir.path().join("partials/footer.hbs"), "-- {{who}}").unwrap();
        std::fs::write(dir.path().join("t.txt.hbs"), "body\n{{> footer}}").unwrap();
        let templates = Templates::load(dir.path()).unwrap();
        let out = templates
            .render_text("t", &serde_json::json!({"who": "ops"}))
            .unwrap();
        assert_eq!(out, "body\n-- ops");
        std::fs::write(dir.path().join("partials/table.txt.hbs"), "text table").unwrap();
        std::fs::write(dir.path().join("partials/table.html.hbs"), "<table>").unwrap();
        std::fs::write(dir.path().join("u.txt.hbs"), "{{> table}}").unwrap();
        std::fs::write(dir.path().join("u.html.hbs"), "{{> table}}").unwrap();
        let templates = Templates::load(dir.path()).unwrap();
        let context = serde_json::json!({});
        assert_eq!(templates.render_text("u", &context).unwrap(), "text table");
        assert_eq!(
            templates.render_html("u", &context).unwrap().unwrap(),
            "<table>"
        );
        assert!(templates.has_text("default"));
    }

    #[test]
    fn a_template_and_a_partial_may_share_a_name() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("partials")).unwrap();
        let write = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            path.display().to_string()
        };
        write("disks.txt.hbs", "own {{> disks}}");
        write("partials/disks.txt.hbs", "table of {{who}}");
        write("partials/disks.html.hbs", "<table>");
        write("partials/alone.txt.hbs", "a partial only");
        let template = write("rows.txt.hbs", "{{> rows}}\n{{nope}}");
        let partial = write("partials/rows.txt.hbs", "{{bad}}");
        let context = serde_json::json!({"who": "ops"});
        // `check` and the daemon compile everything; a run, what its jobs use.
        let (all, errors) = Templates::load_some(dir.path(), None);
        assert!(errors.is_empty(), "{errors:?}");
        let (some, errors) = Templates::load_some(dir.path(), Some(&["disks", "rows"]));
        assert!(errors.is_empty(), "{errors:?}");
        for templates in [&all, &some] {
            let text = templates.render_text("disks", &context).unwrap();
            assert_eq!(text, "own table of ops");
            assert!(!templates.has_html("disks"));
            assert!(templates.render_html("disks", &context).is_none());
            // Errors name the file they are in, template or partial.
            let err = templates.render_text("rows", &context).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("{partial}:1:1: unknown variable bad")
            );
            let context = serde_json::json!({"bad": 1});
            let err = templates.render_text("rows", &context).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("{template}:2:1: unknown variable nope")
            );
        }
        assert!(!all.has_text("alone"), "a partial is no report template");
        let files: Vec<String> = all
            .unknown_variables()
            .iter()
            .map(|e| e.path.display().to_string())
            .collect();
        assert!(
            files.contains(&template) && files.contains(&partial),
            "{files:?}"
        );
    }

    #[test]
    fn the_html_versions_of_the_built_in_templates_are_checked_too() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["default.html.hbs", "digest.html.hbs", "default.txt.hbs"] {
            std::fs::write(dir.path().join(name), "<p>{{nosuch}}</p>").unwrap();
        }
        let templates = Templates::load(dir.path()).unwrap();
        let problems: Vec<String> = templates
            .unknown_variables()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(problems.len(), 3, "{problems:#?}");
        for (name, has) in [
            ("default.txt.hbs", "job, node"),
            ("default.html.hbs", "job, node"),
            ("digest.html.hbs", "host, jobs"),
        ] {
            let path = dir.path().join(name);
            let expected = format!("{}:1:4: unknown variable nosuch", path.display());
            assert!(
                problems
                    .iter()
                    .any(|p| p.starts_with(&expected) && p.contains(has)),
                "{expected} ({has}) in {problems:#?}"
            );
        }
    }

    /// The templates `files` and the job `job`, given to `f`.
    fn with_job<T>(files: &[(&str, &str)], job: &str, f: impl Fn(&Templates, &Job) -> T) -> T {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("partials")).unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        let templates = Templates::load(dir.path()).unwrap();
        let config =
            crate::config::Config::parse("", Path::new("reporter.yaml"), dir.path()).unwrap();
        let job = Job::parse("j", Path::new("jobs/j.yaml"), job, &config).unwrap();
        f(&templates, &job)
    }

    fn scope_of(files: &[(&str, &str)], job: &str) -> Scope {
        with_job(files, job, |t, j| t.reads(j).facts)
    }

    #[test]
    fn a_header_template_is_compiled_once_for_every_message() {
        let templates = Templates::load(Path::new("/nonexistent")).unwrap();
        let context = Templates::prepare(&serde_json::json!({"job": {"name": "disk"}})).unwrap();
        for _ in 0..3 {
            let subject = templates.render_inline_in("[{{job.name}}]", &context);
            assert_eq!(subject.unwrap(), "[disk]");
        }
        let err = templates
            .render_inline_in("{{#if x}}", &context)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("template \"{{#if x}}\": "), "{err}");
        assert_eq!(
            templates.inline.lock().unwrap().len(),
            1,
            "the broken one is not kept"
        );
    }

    #[test]
    fn a_job_subject_compiled_when_it_loaded_is_not_compiled_again() {
        with_job(
            &[],
            "mail: {subject: '[{{job.name}}]'}\n",
            |templates, job| {
                let loaded = job.mail.compiled_subject.clone().expect("compiled at load");
                templates.adopt_subjects(std::slice::from_ref(job));
                let rendered = templates.inline_template(&job.mail.subject).unwrap();
                assert!(Arc::ptr_eq(&loaded, &rendered));
                let context = Templates::prepare(&serde_json::json!({"job": {"name": "disk"}}));
                let subject = templates.render_inline_in(&job.mail.subject, &context.unwrap());
                assert_eq!(subject.unwrap(), "[disk]");
            },
        );
        // The built-in subject is compiled only when a report renders it.
        with_job(&[], "commands: [df]\n", |_, job| {
            assert!(job.mail.compiled_subject.is_none());
        });
    }

    #[test]
    fn the_built_in_default_reads_neither_the_system_facts_nor_previous() {
        // A run compiles it only once it renders with it, after the scans: they find
        // nothing in a template not yet compiled, which must be what they would find in it.
        let templates = Templates::load(Path::new("/nonexistent")).unwrap();
        assert!(templates.report(TEXT, DEFAULT_TEMPLATE).is_some());
        assert!(!templates.template_reads(DEFAULT_TEMPLATE, Costly::SystemFacts));
        assert!(!templates.template_reads(DEFAULT_TEMPLATE, Costly::Previous));
        let (run, _) = Templates::load_some(Path::new("/nonexistent"), Some(&[DEFAULT_TEMPLATE]));
        assert!(
            run.report(TEXT, DEFAULT_TEMPLATE).is_none(),
            "compiled when rendered"
        );
        assert!(run.has_text(DEFAULT_TEMPLATE));
    }

    #[test]
    fn the_previous_run_is_kept_only_when_read() {
        let job = "mail: {template: t}\ncommands: [true]\n";
        let previous = |t: &Templates, j: &Job| t.reads(j).previous;
        let reads = |text: &str| {
            with_job(
                &[
                    ("t.txt.hbs", text),
                    ("partials/was.hbs", "{{previous.[0].stdout}}"),
                ],
                job,
                previous,
            )
        };
        for text in [
            "{{#each results}}{{diff}} {{changed}}{{/each}}",
            "{{#each results}}{{previous}}{{/each}}",
            "{{run.id}}",
        ] {
            assert!(!reads(text), "{text}");
        }
        for text in [
            "{{#if previous}}was{{/if}}",
            "{{#each previous}}{{stdout}}{{/each}}",
            "{{#each results}}{{@root.previous.[0].status}}{{/each}}",
            "{{#each results}}{{../previous}}{{/each}}",
            "{{json this}}",
            "{{> was}}",
        ] {
            assert!(reads(text), "{text}");
        }
        let subject = "mail: {subject: '{{#if previous}}again{{/if}}'}\ncommands: [true]\n";
        assert!(with_job(&[], subject, previous));
        let hook = "webhooks: [{url: 'http://127.0.0.1:9/', template: chat}]\ncommands: [true]\n";
        assert!(with_job(&[], hook, previous), "read when posted");
        assert_eq!(with_job(&[], hook, |t, j| t.reads(j).facts), Scope::Full);
        assert!(!with_job(&[], "commands: [true]\n", previous));
    }

    #[test]
    fn system_facts_are_gathered_only_when_read() {
        let job = "mail: {template: t}\ncommands: [true]\n";
        let names = [
            "{{host.hostname}} {{host.fqdn}} {{job.name}}",
            "{{#each results}}{{host}} {{#if host}}x{{/if}}{{/each}}",
            "{{#each results}}{{#with this}}{{host}}{{/with}}{{/each}}",
            "{{#if @root.host.fqdn}}{{../host.hostname}}{{/if}}",
        ];
        for text in names {
            assert_eq!(
                scope_of(&[("t.txt.hbs", text)], job),
                Scope::Names,
                "{text}"
            );
        }
        let full = [
            "{{host.os}}",
            "{{#if x}}{{bytes host.memory.total}}{{/if}}",
            "{{#each host.disks}}{{mount}}{{/each}}",
            "{{#with host}}{{kernel}}{{/with}}",
            "{{#each results}}{{@root.host.load.one}}{{/each}}",
            "{{#each results}}{{../host.uptime}}{{/each}}",
            "{{#if (gt (lookup host \"cpus\") 1)}}{{/if}}",
            "{{> sys}}",
            "{{#each results}}{{else}}{{host.arch}}{{/each}}",
        ];
        for text in full {
            assert_eq!(
                scope_of(
                    &[("t.txt.hbs", text), ("partials/sys.hbs", "{{host.kernel}}")],
                    job
                ),
                Scope::Full,
                "{text}"
            );
        }
        assert_eq!(
            scope_of(
                &[("t.txt.hbs", "x"), ("t.html.hbs", "{{host.swap.used}}")],
                job
            ),
            Scope::Full
        );
        assert_eq!(
            scope_of(
                &[],
                "mail: {subject: 'load {{host.load.one}}'}\ncommands: [true]\n"
            ),
            Scope::Full
        );
        assert_eq!(scope_of(&[], "commands: [true]\n"), Scope::Names);
    }

    /// A context with made-up facts, for rendering the shipped templates.
    fn sample_context(disks: &[(&str, f64)]) -> serde_json::Value {
        let disks: Vec<serde_json::Value> = disks
            .iter()
            .map(|(mount, percent)| {
                serde_json::json!({"mount": mount, "device": "/dev/sda1", "fs": "ext4",
                    "total": 100u64 << 30, "used": (*percent as u64) << 30,
                    "available": (100 - *percent as u64) << 30, "percent": percent,
                    "trend": if *mount == "/" { vec![40.0, 45.0, *percent] } else { vec![*percent] },
                    "days_to_full": if *mount == "/" { Some(12.4) } else { None }})
            })
            .collect();
        serde_json::json!({
            "job": {"name": "disk-usage", "description": "Nightly disk usage report", "schedule": "daily"},
            "host": {"hostname": "web1", "fqdn": "web1.example.com", "os": "Debian GNU/Linux 12",
                "kernel": "6.1.0", "arch": "x86_64", "uptime_secs": 90000, "uptime": "1d 01h",
                "boot_time": "2026-11-21T07:00:00Z", "load": {"one": 0.5, "five": 0.25, "fifteen": 0.1},
                "cpus": 4, "memory": {"total": 8u64 << 30, "used": 2u64 << 30, "available": 6u64 << 30, "percent": 25.0},
                "swap": {"total": 0, "used": 0, "percent": 0.0}, "disks": disks},
            "results": [{"name": "df -h", "command": "df -h", "host": null, "target": null,
                "status": "failed", "exit_code": 0, "signal": null,
                "stdout": "Filesystem Size Used Avail Use% Mounted on\n/dev/sdb1 100G 95G 5G 95% /var <&>\n",
                "stderr": "", "duration_ms": 12, "truncated": false, "started_at": "2026-11-22T06:00:00Z",
                "changed": null, "diff": null, "matches": ["/dev/sdb1 100G 95G 5G 95% /var <&>"],
                "values": {"duration_ms": 12}, "values_text": {"duration_ms": "12ms"},
                "trends": {"duration_ms": [100]}, "expectations": [],
                "stdout_attachment": null, "stderr_attachment": null}],
            "summary": {"total": 1, "ok": 0, "failed": 1, "timeout": 0, "error": 0, "duration_ms": 12,
                "all_ok": false, "status": "failed"},
            "run": {"id": "r1", "started_at": "2026-11-22T06:00:00Z", "finished_at": "2026-11-22T06:00:01Z",
                "trigger": "cron", "interrupted": false},
            "previous": null,
            "disk_history": {"/": [{"percent": 40.0, "at": "2026-11-20T06:00:00Z"},
                {"percent": 45.0, "at": "2026-11-21T06:00:00Z"}], "/var": [], "/srv": [], "/empty": []},
            "node": null,
            "section": false
        })
    }

    #[test]
    fn shipped_disk_report_highlights_full_disks() {
        let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
        let templates = Templates::load(&shipped).unwrap();
        let context =
            sample_context(&[("/", 50.0), ("/var", 95.0), ("/srv", 80.0), ("/empty", 0.0)]);
        let html = templates
            .render_html("disk-usage", &context)
            .unwrap()
            .unwrap();
        assert_eq!(html.matches("<tr data-mount=").count(), 4, "{html}");
        assert_eq!(html.matches("data-full=\"true\"").count(), 1, "{html}");
        assert!(
            html.contains("<tr data-mount=\"/var\" data-full=\"true\""),
            "{html}"
        );
        assert!(
            html.contains("bgcolor=\"#c62828\""),
            "red bar for /var: {html}"
        );
        assert!(
            html.contains("bgcolor=\"#e6a700\""),
            "amber bar for /srv: {html}"
        );
        assert!(
            html.contains("bgcolor=\"#2e7d32\""),
            "green bar for /: {html}"
        );
        assert!(
            html.contains("95% /var &lt;&amp;&gt;"),
            "escaped output: {html}"
        );
        assert!(!html.contains("<script"), "{html}");
        // The trend of the mounts that have earlier runs, and when they are full.
        assert_eq!(html.matches("<tr data-trend=").count(), 1, "{html}");
        let history = &html[html.find("<tr data-trend=\"/\"").expect("a row for /")..];
        let history = &history[..history.find("</tr>\n  </table>").unwrap_or(history.len())];
        assert_eq!(history.matches("data-sample=").count(), 3, "{history}");
        assert!(
            history.contains("last 3 runs: 40% &rarr; 50% now, <b data-days-to-full=\"12.4\""),
            "{history}"
        );
        assert!(history.contains(">full in ~12 days</b>"), "{history}");
        let text = templates.render_text("disk-usage", &context).unwrap();
        assert!(text.contains("95% /var <&>"), "{text}");
        assert!(
            text.contains("[##########] 95%   /var  <-- over 90%"),
            "{text}"
        );
        assert!(text.contains("[#####-----] 50%   /\n"), "{text}");
        assert!(
            text.contains(&format!(
                "\n{}▄▄▅  last 3 runs, full in ~12 days\n",
                " ".repeat(29)
            )),
            "{text}"
        );
    }
}
