//! What the CLI reads from a live cluster and prints, opening and writing nothing: `sextant
//! drift` (the drift and the values patch a drift pull request would propose), `sextant
//! preview` (what a change would do to the cluster) and `sextant promote` (what qualifies from
//! one environment for another). Edges over the core's decisions.

pub mod drift;
pub mod preview;
pub mod promotion;
