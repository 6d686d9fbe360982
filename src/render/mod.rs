//! The Handlebars stage: the templates folder and the built-in templates, compiled in strict
//! mode; the helpers templates call; and static scans of templates made before rendering
//! (what they read, how their partials nest, and whether every variable can exist).

pub mod helpers;
pub mod scan;
pub mod schema;
pub mod templates;
pub mod variables;

pub use templates::{DIGEST_TEMPLATE, Reads, RenderError, Templates};
