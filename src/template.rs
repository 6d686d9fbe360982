//! The Handlebars stage: the built-in `default` template, the templates folder, and rendering
//! in strict mode (a misspelt variable is an error, not an empty string).

use std::path::{Path, PathBuf};

use handlebars::{Handlebars, RenderError, TemplateError};
use serde::Serialize;

use crate::error::ConfigError;

const BUILTIN_DEFAULT: &str = include_str!("builtin/default.txt.hbs");

/// Every template of a templates folder, compiled.
pub struct Templates {
    dir: PathBuf,
    /// `NAME.txt.hbs` and inline header templates: never HTML-escaped.
    text: Handlebars<'static>,
    /// `NAME.html.hbs`: HTML-escaped.
    html: Handlebars<'static>,
}

impl Templates {
    /// Compiles the built-in template and everything in `dir` (which need not exist);
    /// every broken file is reported.
    pub fn load(dir: &Path) -> Result<Templates, Vec<ConfigError>> {
        let mut text = Handlebars::new();
        text.set_strict_mode(true);
        text.register_escape_fn(handlebars::no_escape);
        let mut html = Handlebars::new();
        html.set_strict_mode(true);
        html.register_escape_fn(handlebars::html_escape);
        text.register_template_string("default", BUILTIN_DEFAULT)
            .expect("the built-in template compiles");

        let mut errors = Vec::new();
        let mut register =
            |registry: &mut Handlebars<'static>, name: &str, path: &Path, partial: bool| {
                if let Err(e) = crate::security::check_trusted(path) {
                    return errors.push(ConfigError::new(path, e));
                }
                let source = match std::fs::read_to_string(path) {
                    Ok(source) => source,
                    Err(e) => {
                        return errors
                            .push(ConfigError::new(path, format!("cannot read template: {e}")));
                    }
                };
                let result = if partial {
                    registry.register_partial(name, source)
                } else {
                    registry.register_template_string(name, source)
                };
                if let Err(e) = result {
                    errors.push(template_error(path, &e));
                }
            };
        for (path, file_name) in files(dir) {
            if let Some(name) = file_name.strip_suffix(".txt.hbs") {
                register(&mut text, name, &path, false);
            } else if let Some(name) = file_name.strip_suffix(".html.hbs") {
                register(&mut html, name, &path, false);
            }
        }
        for (path, file_name) in files(&dir.join("partials")) {
            if let Some(name) = file_name.strip_suffix(".hbs") {
                let name = name
                    .strip_suffix(".txt")
                    .or_else(|| name.strip_suffix(".html"))
                    .unwrap_or(name);
                register(&mut text, name, &path, true);
                register(&mut html, name, &path, true);
            }
        }
        // A broken partial is registered twice (text and HTML) but reported once.
        errors.dedup();
        if errors.is_empty() {
            Ok(Templates {
                dir: dir.to_owned(),
                text,
                html,
            })
        } else {
            Err(errors)
        }
    }

    /// Is there a text template called `name` (a file, or the built-in `default`)?
    pub fn has_text(&self, name: &str) -> bool {
        self.text.has_template(name)
    }

    /// Where the text template `name` is expected, for error messages.
    pub fn text_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.txt.hbs"))
    }

    pub fn render_text(&self, name: &str, context: &impl Serialize) -> Result<String, String> {
        self.text
            .render(name, context)
            .map_err(|e| self.render_error(&e, "txt"))
    }

    /// The HTML alternative, when `templates/NAME.html.hbs` exists.
    pub fn render_html(
        &self,
        name: &str,
        context: &impl Serialize,
    ) -> Option<Result<String, String>> {
        self.html.has_template(name).then(|| {
            self.html
                .render(name, context)
                .map_err(|e| self.render_error(&e, "html"))
        })
    }

    /// Renders a header template (subject, address) without escaping.
    pub fn render_inline(
        &self,
        template: &str,
        context: &impl Serialize,
    ) -> Result<String, String> {
        self.text
            .render_template(template, context)
            .map_err(|e| format!("template {template:?}: {}", e.reason()))
    }

    fn render_error(&self, error: &RenderError, kind: &str) -> String {
        let file = match error.template_name.as_deref() {
            Some("default") if kind == "txt" && !self.text_path("default").is_file() => {
                "(built-in default template)".to_owned()
            }
            Some(name) => self
                .dir
                .join(format!("{name}.{kind}.hbs"))
                .display()
                .to_string(),
            None => self.dir.display().to_string(),
        };
        match (error.line_no, error.column_no) {
            (Some(line), Some(column)) => format!("{file}:{line}:{column}: {}", error.reason()),
            _ => format!("{file}: {}", error.reason()),
        }
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
fn files(dir: &Path) -> Vec<(PathBuf, String)> {
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
    use super::*;

    #[test]
    fn text_is_not_escaped_and_strict_mode_names_the_variable() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("t.txt.hbs"), "{{out}}\n{{missing}}\n").unwrap();
        std::fs::write(dir.path().join("t.html.hbs"), "<p>{{out}}</p>").unwrap();
        let templates = Templates::load(dir.path()).unwrap();
        let context = serde_json::json!({"out": "a < b & c"});
        let err = templates.render_text("t", &context).unwrap_err();
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
        assert!(templates.has_text("default"));
    }
}
