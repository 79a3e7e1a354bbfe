//! Server-side apply: field sets in the `FieldsV1` form and the apply/ownership rules.

pub mod fieldset;
pub mod ssa;

pub use ssa::{
    apply, conflict_error, read_managed, record_update, Conflict, ManagedEntry, Operation, Writer,
};
