//! Values handed to helm through pipes: decrypted SOPS values never touch a disk. Each input is
//! a pipe whose read end the child sees as `/dev/fd/3`, `/dev/fd/4`, …; a thread writes it and
//! closes it, so a value larger than the pipe's buffer does not block the spawn.

use std::io::Write as _;
use std::os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd, RawFd};

/// The first descriptor the child reads values from.
const FIRST: RawFd = 3;
/// Where the parent keeps the read ends until the child takes them: above any `FIRST + i`, so
/// that the child's `dup2`s never overwrite one another.
const PARKED: RawFd = 100;

/// The child's path of the `i`th input.
pub(super) fn path(i: usize) -> String {
    format!("/dev/fd/{}", FIRST + i as RawFd)
}

pub(super) struct Pipes {
    reads: Vec<OwnedFd>,
    writes: Vec<OwnedFd>,
}

impl Pipes {
    pub(super) fn new(n: usize) -> std::io::Result<Pipes> {
        let mut reads = Vec::new();
        let mut writes = Vec::new();
        for _ in 0..n {
            let mut fds = [0 as RawFd; 2];
            // SAFETY: pipe2 fills both descriptors on success; each is owned once, below.
            if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
                return Err(std::io::Error::last_os_error());
            }
            let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
            // SAFETY: F_DUPFD_CLOEXEC returns a new descriptor, owned once below.
            let parked = unsafe { libc::fcntl(r.as_raw_fd(), libc::F_DUPFD_CLOEXEC, PARKED) };
            if parked < 0 {
                return Err(std::io::Error::last_os_error());
            }
            reads.push(unsafe { OwnedFd::from_raw_fd(parked) });
            writes.push(w);
        }
        Ok(Pipes { reads, writes })
    }

    /// The read ends, for the child's `install`.
    pub(super) fn read_fds(&self) -> Vec<RawFd> {
        self.reads.iter().map(|f| f.as_raw_fd()).collect()
    }

    /// Once the child runs: the parent's read ends closed, a thread writing each input.
    pub(super) fn feed(
        self,
        inputs: &[&zeroize::Zeroizing<Vec<u8>>],
    ) -> Vec<std::thread::JoinHandle<()>> {
        drop(self.reads);
        self.writes
            .into_iter()
            .zip(inputs)
            .map(|(w, bytes)| {
                let bytes = zeroize::Zeroizing::new(bytes.to_vec());
                std::thread::spawn(move || {
                    let mut f = std::fs::File::from(w);
                    // helm may stop reading (a failed render): the error is its to report.
                    let _ = f.write_all(&bytes);
                })
            })
            .collect()
    }
}

/// In the child, before exec: each read end at `FIRST + i`, open across the exec.
pub(super) fn install(reads: &[RawFd]) -> std::io::Result<()> {
    for (i, &fd) in reads.iter().enumerate() {
        // SAFETY: dup2 is async-signal-safe; the new descriptor has no close-on-exec flag.
        if unsafe { libc::dup2(fd, FIRST + i as RawFd) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}
