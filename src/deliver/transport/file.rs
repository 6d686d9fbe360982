//! `transport: file`: one `.eml` file per message in a folder, written atomically and
//! private (0600, a folder it creates 0700): reports hold process lists and outputs.

use std::path::Path;

use crate::deliver::transport::error::DeliveryError;
use crate::state::{Access, write_atomic};

pub fn write(dir: &Path, name: &str, message: &[u8]) -> Result<(), DeliveryError> {
    let path = dir.join(format!("{name}.eml"));
    write_atomic(&path, &[message], Access::Private)
        .map_err(|e| DeliveryError::transient(format!("cannot write `{}`: {e}", path.display())))
}
