//! The tokio driver (feature `driver`): not written yet.
