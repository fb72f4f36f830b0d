//! Audit replay: an aggregate's history and its state at a version or a time.
