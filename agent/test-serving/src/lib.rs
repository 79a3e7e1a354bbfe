//! The start-up and stop every in-process test server here shares (kube-testkit, the fake
//! GitHub): bind, serve an axum router on a runtime of its own on a dedicated thread (so that
//! synchronous tests running `kubectl` and async tests holding a client can both use it), and
//! stop when told or dropped, bounded so that a stuck client cannot hang a test.

pub mod cli;
pub mod faults;

use std::net::SocketAddr;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::watch;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot start the {name}'s runtime thread: {source}")]
    Runtime {
        name: &'static str,
        source: std::io::Error,
    },
}

/// A bound listener, not serving yet: its address and the shutdown signal are known, so the
/// server's state can be built with them before it serves.
pub struct Bound {
    listener: std::net::TcpListener,
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    shutdown: watch::Receiver<bool>,
}

impl Bound {
    /// Binds `addr` (port 0: any free port).
    pub fn bind(addr: SocketAddr) -> Result<Bound, Error> {
        let bind = |source| Error::Bind { addr, source };
        let listener = std::net::TcpListener::bind(addr).map_err(bind)?;
        let addr = listener.local_addr().map_err(bind)?;
        listener.set_nonblocking(true).map_err(bind)?;
        let (stop, shutdown) = watch::channel(false);
        Ok(Bound {
            listener,
            addr,
            stop,
            shutdown,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Turns true when the server is told to stop: for the server's own background tasks.
    pub fn shutdown(&self) -> watch::Receiver<bool> {
        self.shutdown.clone()
    }

    /// Serves the router `app` makes, on a two-thread runtime of its own, on a thread named
    /// `<name>-<port>`. `app` runs inside that runtime, so it may spawn the server's background
    /// tasks there.
    pub fn serve(
        self,
        name: &'static str,
        app: impl FnOnce() -> axum::Router + Send + 'static,
    ) -> Result<Serving, Error> {
        let runtime_error = |source| Error::Runtime { name, source };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(runtime_error)?;
        let Bound {
            listener,
            addr,
            stop,
            shutdown,
        } = self;
        let thread = std::thread::Builder::new()
            .name(format!("{name}-{}", addr.port()))
            .spawn(move || run(runtime, listener, name, app, shutdown))
            .map_err(runtime_error)?;
        Ok(Serving {
            addr,
            stop,
            thread: Some(thread),
        })
    }
}

/// A serving test server's thread; it stops when dropped.
pub struct Serving {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    thread: Option<JoinHandle<()>>,
}

impl Serving {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops serving and waits for the thread (also done on drop); at most about a second
    /// for open connections to finish.
    pub fn stop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        self.stop();
    }
}

fn run(
    runtime: tokio::runtime::Runtime,
    listener: std::net::TcpListener,
    name: &'static str,
    app: impl FnOnce() -> axum::Router,
    shutdown: watch::Receiver<bool>,
) {
    runtime.block_on(async move {
        let listener = match tokio::net::TcpListener::from_std(listener) {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(error = %e, "{name} cannot use its listener");
                return;
            }
        };
        let mut graceful = shutdown.clone();
        let server = axum::serve(listener, app()).with_graceful_shutdown(async move {
            let _ = graceful.wait_for(|stop| *stop).await;
        });
        let mut hard = shutdown;
        // Graceful shutdown waits for open connections; bound it so a stuck client cannot hang a test.
        tokio::select! {
            _ = server => {}
            _ = async { let _ = hard.wait_for(|stop| *stop).await; tokio::time::sleep(Duration::from_secs(1)).await } => {}
        }
    });
    runtime.shutdown_timeout(Duration::from_millis(200));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    fn get(addr: SocketAddr) -> std::io::Result<String> {
        let mut s = std::net::TcpStream::connect(addr)?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        s.write_all(b"GET /ping HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")?;
        let mut out = String::new();
        s.read_to_string(&mut out)?;
        Ok(out)
    }

    #[test]
    fn serves_on_its_own_thread_until_stopped_and_a_second_bind_of_the_port_is_refused() {
        let bound = Bound::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = bound.addr();
        let mut shutdown = bound.shutdown();
        let taken = Bound::bind(addr).err().expect("the port is taken");
        assert!(taken.to_string().contains(&addr.to_string()), "{taken}");
        let mut serving = bound
            .serve("ping", || {
                axum::Router::new().route("/ping", axum::routing::get(|| async { "pong" }))
            })
            .unwrap();
        assert!(get(addr).unwrap().ends_with("pong"));
        assert!(!*shutdown.borrow_and_update());
        serving.stop();
        assert!(*shutdown.borrow_and_update(), "the shutdown signal turned");
        assert!(get(addr).is_err(), "nothing answers once stopped");
    }
}
