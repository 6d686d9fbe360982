//! The problems report: a message to the config's `mail.to` listing the configuration
//! problems that kept jobs from running, so a broken job file does not go unnoticed.

use tracing::error;

use crate::config::ConfigError;
use crate::config::address::AddressSpec;
use crate::config::job::job_name;
use crate::mail::compose::{Composed, Composer};
use crate::mail::message::{self, Built, Draft, Stamp};
use crate::report::{Facts, Status};

impl Composer<'_> {
    /// The problems report, built without user templates (they may be what is broken).
    pub fn problems(&self, problems: &[ConfigError], facts: &Facts) -> Option<Composed> {
        let config = self.config;
        let context = serde_json::json!({ "host": facts });
        let address = |spec: &AddressSpec| {
            self.templates
                .render_inline(spec.as_str(), &context)
                .unwrap_or_else(|_| spec.as_str().to_owned())
        };
        let mut jobs: Vec<String> = problems
            .iter()
            .filter_map(|p| {
                p.path
                    .file_name()?
                    .to_str()
                    .and_then(job_name)
                    .map(str::to_owned)
            })
            .collect();
        jobs.dedup();
        let count = problems.len();
        let plural = if count == 1 { "" } else { "s" };
        let mut text = format!(
            "reporter found {count} configuration problem{plural} on {}.\n\
             The jobs they belong to did not run; the others did.\n\
             Fix them and confirm with `reporter check`.\n\n",
            facts.fqdn
        );
        for problem in problems {
            text.push_str(&format!("{problem}\n"));
        }
        let draft = Draft {
            from: address(&config.mail.from),
            to: config.mail.to.iter().map(address).collect(),
            cc: Vec::new(),
            reply_to: None,
            subject: format!(
                "reporter on {}: {count} configuration problem{plural}",
                facts.hostname
            ),
            text,
            html: None,
            attachments: Vec::new(),
        };
        let label = if jobs.is_empty() {
            "reporter".to_owned()
        } else {
            jobs.join(", ")
        };
        let stamp = Stamp {
            job: &label,
            status: Status::Error,
            message_id: format!("<{}.problems@{}>", self.run_id, facts.fqdn),
            date: config.timezone.now(),
        };
        match message::build(draft, &stamp) {
            Ok(Built { message, .. }) => Some(Composed {
                message,
                name: format!("{}.problems", self.run_id),
                date: stamp.date,
                html: None,
            }),
            Err(e) => {
                error!("cannot mail the configuration problems: {e}");
                None
            }
        }
    }
}
