//! Test support of auxiliary-service's tests (main-api's end-to-end tests include `moto.rs`).

pub mod moto;
