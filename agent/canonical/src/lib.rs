//! `kube-canonical`: what a Kubernetes API server stores for what a client sends, for the
//! built-in kinds — nulls dropped, `omitempty` zero values dropped, quantities canonical,
//! integral numbers as integers — and the type check server-side apply makes first. One table
//! (`types.json`, derived from the Kubernetes API's Go types at release-1.33) serves both the
//! agent, which compares Git with the cluster, and kube-testkit, which stores what a real server
//! would. Pure: no I/O.

pub mod base64;
pub mod names;
pub mod normalize;
pub mod quantity;
pub mod table;
pub mod validate;

pub use normalize::{canonicalize, drop_nulls};
pub use table::{Field, ListType, Struct, Table, Ty};
pub use validate::{validate, TypeError};
