//! The Handlebars stage: the templates folder and the built-in templates, compiled in strict
//! mode; the helpers templates call; and static scans of templates made before rendering.

pub mod helpers;
pub mod scan;
pub mod templates;

pub use templates::{DIGEST_TEMPLATE, RenderError, Templates};
