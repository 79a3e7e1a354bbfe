//! SIGTERM takes the pod out of rotation before the process stops.

use std::time::Duration;

use service_kit::testing::{eventually, try_request, Service};

#[test]
fn sigterm_flips_readiness_to_503_while_still_serving_then_exits_cleanly() {
    // The delay is the window in which the test must see 503 and still get answers: wide enough
    // for a loaded CI machine, and it bounds how long the test takes.
    let mut service = start(&[
        ("SHUTDOWN_DELAY_SECONDS", "5"),
        ("DRAIN_TIMEOUT_SECONDS", "5"),
    ]);
    assert_eq!(service.get("/readyz").status, 200);

    service.sigterm();
    eventually(
        Duration::from_secs(3),
        "/readyz answers 503 after SIGTERM",
        || service.get("/readyz").status == 503,
    );
    assert!(
        !service.has_exited(),
        "the process must outlive the readiness flip"
    );
    // Traffic already routed to the pod is still answered during the delay.
    assert_eq!(service.get("/hash/abc123").status, 200);
    assert_eq!(service.get("/healthz").status, 200);

    let status = service.wait_for_exit(Duration::from_secs(10));
    assert!(status.success(), "exit status {status}");
    assert!(
        try_request(service.addr, "GET", "/healthz").is_err(),
        "listener closed after exit"
    );
}

#[test]
fn a_second_signal_skips_the_rest_of_the_delay() {
    let mut service = start(&[("SHUTDOWN_DELAY_SECONDS", "600")]);
    service.sigterm();
    eventually(
        Duration::from_secs(3),
        "/readyz answers 503 after SIGTERM",
        || service.get("/readyz").status == 503,
    );
    service.sigterm();
    let status = service.wait_for_exit(Duration::from_secs(10));
    assert!(status.success(), "exit status {status}");
}

/// hash-service, built by cargo for this test, with only `env` set.
fn start(env: &[(&str, &str)]) -> Service {
    Service::start(
        std::path::Path::new(env!("CARGO_BIN_EXE_hash-service")),
        env,
    )
}
