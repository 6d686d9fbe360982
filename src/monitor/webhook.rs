//! A job's webhooks (docs/monitoring.md): each one whose send rule lets it out becomes a spooled
//! `POST` with a JSON body, rendered from `templates/NAME.json.hbs` (with the `json`
//! helper) or, by default, the job's object of `run --json`. The mailer spools and posts
//! it (`deliver::webhook`).

use std::path::Path;
use std::time::SystemTime;

use crate::config::job::Webhook;
use crate::config::limits::MAX_FILE_SIZE;
use crate::config::trust;
use crate::deliver::spool::Hook;
use crate::monitor::outcome::JobOutcome;
use crate::monitor::ping::{UrlContext, render_url};
use crate::render::Templates;
use crate::report::Context;

/// What every webhook of a run is composed with.
pub struct HookComposer<'a> {
    pub templates: &'a Templates,
    pub templates_dir: &'a Path,
}

impl HookComposer<'_> {
    /// The webhook `hook` (the `index`th of the job file `path`) of a finished job, or why it
    /// cannot be posted (a URL or body that does not render, a body that is not JSON).
    pub fn compose(
        &self,
        path: &Path,
        index: usize,
        hook: &Webhook,
        context: &Context<'_>,
        outcome: &JobOutcome,
    ) -> Result<Hook, String> {
        let at = |key: &str, e: String| format!("{}: webhooks[{index}].{key}: {e}", path.display());
        let url_context = UrlContext {
            job: context.job.clone(),
            host: &context.host,
        };
        let url = render_url(self.templates, &hook.url, &url_context).map_err(|e| at("url", e))?;
        let body = match &hook.template {
            None => serde_json::to_vec(outcome).map_err(|e| at("template", e.to_string()))?,
            Some(name) => {
                let file = self.templates_dir.join(format!("{name}.json.hbs"));
                let text = trust::read_trusted(&file, Some(MAX_FILE_SIZE))
                    .map_err(|e| at("template", e.to_string()))?;
                let rendered = self
                    .templates
                    .render_inline(&text, context)
                    .map_err(|e| format!("{}: {e}", file.display()))?;
                if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(&rendered) {
                    return Err(format!(
                        "{}: the rendered body is not JSON ({e}); use the `json` helper for values",
                        file.display()
                    ));
                }
                rendered.into_bytes()
            }
        };
        Ok(Hook {
            job: context.job.name.clone(),
            url: url.to_string(),
            headers_file: hook.headers_file.clone(),
            timeout: hook.timeout,
            created: SystemTime::now(),
            body,
        })
    }
}
