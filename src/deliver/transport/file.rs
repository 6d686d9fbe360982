//! `transport: file`: one `.eml` file per message in a folder, written atomically and
//! private (0600, a folder it creates 0700): reports hold process lists and outputs. The
//! folder is outside the state folder, so it is reached as every such folder is
//! (`state::outside`): one another user could swap is refused.

use std::path::Path;

use crate::deliver::transport::error::DeliveryError;
use crate::state::Access;
use crate::state::outside::{self, OutsideError};

pub fn write(dir: &Path, name: &str, message: &[u8]) -> Result<(), DeliveryError> {
    let path = dir.join(format!("{name}.eml"));
    outside::write_file(&path, &[message], Access::Private).map_err(|e| match e {
        OutsideError::Io { path, source } => {
            DeliveryError::transient(format!("cannot write `{}`: {source}", path.display()))
        }
        // Every message would be refused the same way: they all stay spooled.
        refused => DeliveryError::connection(refused.to_string()),
    })
}
