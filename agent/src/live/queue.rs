//! The live cache's changes on their way to the drift watch: a set, not a stream. An object or a
//! kind that moves many times before the watch reads it waits there once, and is compared as it
//! is when read; so what waits is bounded by what is watched, however fast the events come, and
//! a watch event never waits for the reader. This is the work queue of controller-runtime
//! (`workqueue`: "stingy", a key queued once however often it is added), in small.

use super::Change;
use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::Notify;

#[derive(Default)]
struct State {
    /// In the order each was first queued.
    order: Vec<Change>,
    queued: HashSet<Change>,
    senders: usize,
    closed: bool,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    ready: Notify,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Queues changes; cloned for each watch.
pub struct Sender(Arc<Shared>);

/// Reads what is queued, all of it at once.
pub struct Receiver(Arc<Shared>);

/// The reader is gone: nobody reads the changes any more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closed;

pub fn channel() -> (Sender, Receiver) {
    let shared = Arc::new(Shared::default());
    shared.lock().senders = 1;
    (Sender(shared.clone()), Receiver(shared))
}

impl Sender {
    /// Queues `change`, unless it already waits.
    pub fn send(&self, change: Change) -> Result<(), Closed> {
        {
            let mut s = self.0.lock();
            if s.closed {
                return Err(Closed);
            }
            if s.queued.insert(change.clone()) {
                s.order.push(change);
            }
        }
        // A permit is kept when the reader is not waiting yet: no wake-up is lost.
        self.0.ready.notify_one();
        Ok(())
    }
}

impl Clone for Sender {
    fn clone(&self) -> Self {
        self.0.lock().senders += 1;
        Sender(self.0.clone())
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        self.0.lock().senders -= 1;
        self.0.ready.notify_one();
    }
}

impl Receiver {
    /// Everything queued, in the order first queued, once there is something; `None` once every
    /// sender is gone and nothing waits.
    pub async fn recv_all(&mut self) -> Option<Vec<Change>> {
        loop {
            {
                let mut s = self.0.lock();
                if !s.order.is_empty() {
                    s.queued.clear();
                    return Some(std::mem::take(&mut s.order));
                }
                if s.senders == 0 {
                    return None;
                }
            }
            self.0.ready.notified().await;
        }
    }

    /// How many changes wait.
    pub fn len(&self) -> usize {
        self.0.lock().order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let mut s = self.0.lock();
        s.closed = true;
        s.order.clear();
        s.queued.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::sync::Identity;

    fn object(name: &str) -> Change {
        Change::Object(Identity::new("", "ConfigMap", Some("n"), name))
    }

    fn kind() -> super::super::KindKey {
        (String::new(), "v1".into(), "ConfigMap".into())
    }

    #[tokio::test]
    async fn an_object_moving_many_times_before_the_read_waits_once_in_first_seen_order() {
        let (tx, mut rx) = channel();
        for _ in 0..10_000 {
            tx.send(object("b")).unwrap();
            tx.send(object("a")).unwrap();
        }
        tx.send(Change::Synced(kind())).unwrap();
        assert_eq!(rx.len(), 3, "bounded by what moved, not by how often");
        assert_eq!(
            rx.recv_all().await.unwrap(),
            [object("b"), object("a"), Change::Synced(kind())]
        );
        // Read: the same object queues again.
        tx.send(object("a")).unwrap();
        assert_eq!(rx.recv_all().await.unwrap(), [object("a")]);
    }

    #[tokio::test]
    async fn the_reader_waits_for_a_change_and_ends_when_every_sender_is_gone() {
        let (tx, mut rx) = channel();
        let second = tx.clone();
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            while let Some(batch) = rx.recv_all().await {
                got.extend(batch);
            }
            got
        });
        tokio::task::yield_now().await;
        second.send(object("a")).unwrap();
        drop(second);
        tx.send(object("b")).unwrap();
        drop(tx);
        let got = reader.await.unwrap();
        assert!(
            got.contains(&object("a")) && got.contains(&object("b")),
            "{got:?}"
        );
    }

    #[test]
    fn a_send_after_the_reader_is_gone_says_so() {
        let (tx, rx) = channel();
        drop(rx);
        assert_eq!(tx.send(object("a")), Err(Closed));
    }
}
