//! A driver of ours running on a namespace's thread, as most conformance tests start one: a
//! stop flag (`watch<bool>`), the events it reports (an unbounded channel), read with a bound,
//! and a join that returns what it ended with. Dropping it stops it.

use std::future::Future;
use std::time::Duration;

use netlab::{Netns, NsThread};
use tokio::sync::{mpsc, watch};

/// A driver running in a namespace: `E` the events it reports, `T` what it returns.
pub struct Running<E, T> {
    stop: watch::Sender<bool>,
    thread: Option<NsThread<T>>,
    /// What it reported (read with [`Running::next`], or directly).
    pub events: mpsc::UnboundedReceiver<E>,
}

impl<E: Send + 'static, T: Send + 'static> Running<E, T> {
    /// Starts `run(events, stop)` on a thread in `ns`.
    pub fn start<F, Fut>(ns: &Netns, run: F) -> Self
    where
        F: FnOnce(mpsc::UnboundedSender<E>, watch::Receiver<bool>) -> Fut + Send + 'static,
        Fut: Future<Output = T>,
    {
        let (tx, events) = mpsc::unbounded_channel();
        let (stop, rx) = watch::channel(false);
        let thread = ns.spawn(move |_| run(tx, rx)).expect("a thread in the namespace");
        Running { stop, thread: Some(thread), events }
    }

    /// The next event within `timeout`.
    pub fn next(&mut self, timeout: Duration) -> Option<E> {
        crate::recv_timeout(&mut self.events, timeout)
    }

    /// Asks it to stop, waits until it has, and returns what it returned and the events it
    /// reported meanwhile that were not read.
    pub fn stop(mut self) -> (T, Vec<E>) {
        let _ = self.stop.send(true);
        let thread = self.thread.take().expect("running");
        let ended = thread.join().expect("the driver's thread");
        (ended, std::iter::from_fn(|| self.events.try_recv().ok()).collect())
    }
}

impl<E, T> Drop for Running<E, T> {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
