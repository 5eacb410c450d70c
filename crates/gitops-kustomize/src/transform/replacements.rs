//! `replacements`.

use crate::build::{Builder, Layer};
use crate::error::Error;
use crate::resource::Resource;

pub(crate) fn run(_b: &mut Builder<'_>, layer: &Layer, _ra: &mut [Resource]) -> Result<(), Error> {
    if !layer.k.replacements.is_empty() {
        return Err(Error::Unsupported {
            path: layer.file.clone(),
            feature: "replacements".into(),
        });
    }
    Ok(())
}
