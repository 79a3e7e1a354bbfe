//! How the daemon asks glibc's allocator to hold memory. By default glibc gives each thread that
//! allocates an arena of its own (up to eight per core) and keeps freed memory at the top of each
//! heap up to a threshold that grows with the largest blocks seen. A sync of 10,000 objects on
//! tokio's workers and render threads leaves that freed memory spread over the arenas, resident
//! for the daemon's life. One arena and a fixed 128 KiB trim threshold give it back (README,
//! "Daemon benchmark": 10,000 watched ConfigMaps). The cost is one lock shared by every thread's
//! allocations. mallopt(3): `M_ARENA_MAX`, `M_TRIM_THRESHOLD`; an operator's `MALLOC_ARENA_MAX` or
//! `MALLOC_TRIM_THRESHOLD_` wins. Elsewhere than glibc this does nothing.

/// Arenas for all threads.
const ARENAS: i32 = 1;
/// Freed memory above this, at the top of a heap, goes back to the system.
const TRIM_THRESHOLD: i32 = 128 * 1024;

/// Sets the allocator's limits; call before any thread starts (before the tokio runtime).
pub fn configure() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let set = |variable: &str, option: i32, value: i32| {
            if std::env::var_os(variable).is_none() {
                // SAFETY: mallopt(3) only adjusts the allocator's parameters; called before any
                // other thread exists, nothing allocates concurrently.
                unsafe {
                    libc::mallopt(option, value);
                }
            }
        };
        set("MALLOC_ARENA_MAX", libc::M_ARENA_MAX, ARENAS);
        set(
            "MALLOC_TRIM_THRESHOLD_",
            libc::M_TRIM_THRESHOLD,
            TRIM_THRESHOLD,
        );
    }
}
