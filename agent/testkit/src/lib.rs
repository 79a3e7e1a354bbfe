//! `sextant-testkit`: a Kubernetes-compatible API server for tests — storage with
//! resourceVersions, a generic object handler, server-side apply, watches, simulated
//! controllers, fault injection and a request log. Test infrastructure only.

pub mod aggregator;
pub mod apply;
pub mod controllers;
pub mod defaults;
pub mod delete;
pub mod discovery;
pub mod error;
pub mod faults;
pub mod gatekeeper;
pub mod handler;
pub mod hpa;
mod http;
pub mod kinds;
pub mod meta;
pub mod openapi;
pub mod patch;
pub mod readiness;
pub mod request;
pub mod selectors;
pub mod server;
mod shared;
pub mod storage;
pub mod table;
pub mod validate;
pub mod watch;

pub use error::ApiError;
pub use faults::{Action, Fault, Match, RequestRecord, Verb};
pub use patch::PatchType;
pub use readiness::READY_AFTER_MS;
pub use readiness::{FailImages, FAIL_READINESS};
pub use server::{Error, Options, TestServer};
