//! The budget of what patches and replacements may add to a build.

use serde_json::Value;

use crate::error::{Error, invalid};

/// What patches and replacements have added to a build, against [`crate::yaml::Limits::max_patch_growth`].
pub(crate) struct Growth {
    used: usize,
    max: usize,
}

impl Growth {
    /// Nothing added yet, at most `max`.
    pub fn new(max: usize) -> Self {
        Self { used: 0, max }
    }

    /// Counts `n` (a [`size`]) as written by the patch or replacement in `source`.
    pub fn add(&mut self, source: &str, n: usize) -> Result<(), Error> {
        self.used = self.used.saturating_add(n);
        if self.used > self.max {
            return Err(invalid(
                source,
                format!(
                    "patches and replacements grow the build by more than {} nodes and bytes of text",
                    self.max
                ),
            ));
        }
        Ok(())
    }
}

/// A value's size for [`Growth`]: one per node plus the bytes of its text.
pub(crate) fn size(v: &Value) -> usize {
    match v {
        Value::Object(m) => m.iter().fold(1, |n, (k, v)| {
            n.saturating_add(k.len()).saturating_add(size(v))
        }),
        Value::Array(items) => items.iter().fold(1, |n, v| n.saturating_add(size(v))),
        Value::String(s) => 1 + s.len(),
        Value::Null | Value::Bool(_) | Value::Number(_) => 1,
    }
}
