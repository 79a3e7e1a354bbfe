//! Applying a plan to a cluster. So far: the pure per-kind health rules that gate each wave; the
//! server-side apply edge, prune and inventory build on them.

pub mod health;
