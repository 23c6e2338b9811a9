//! What both DHCP drivers share (feature `driver`): the writer thread, group commit of lease
//! records, and the delivery of lease events. The event loop hands records over with a sequence number; the thread appends
//! everything queued since its last `fdatasync`, syncs once, and publishes the highest durable
//! sequence number on a `watch`, which the machine's `handle_committed` takes.

use std::io;
use std::sync::mpsc;
use std::time::{Duration, SystemTime};

use tokio::sync::{mpsc as tokio_mpsc, watch};
use tracing::error;

use crate::{Log, Record};

/// The default commit delay (the wait for more records before a sync).
pub const COMMIT_DELAY: Duration = Duration::from_millis(2);

/// The writer thread's progress: the highest sequence number made durable, or a failure.
#[derive(Debug, Clone, Default)]
pub struct Durable {
    /// The highest sequence number on disk.
    pub seq: u64,
    /// Why the store stopped, if it did.
    pub failed: Option<String>,
}

impl Durable {
    /// What a wake-up of the writer's watch (`changed`, its result) says: the highest
    /// sequence number now durable, or the store's failure.
    pub fn progress(
        rx: &mut watch::Receiver<Durable>,
        changed: Result<(), watch::error::RecvError>,
    ) -> io::Result<u64> {
        let d = rx.borrow_and_update().clone();
        if let Some(e) = d.failed {
            return Err(io::Error::other(e));
        }
        changed.map_err(|_| writer_ended())?;
        Ok(d.seq)
    }
}

/// The error when the writer thread is gone.
pub fn writer_ended() -> io::Error {
    io::Error::other("writer thread ended")
}

/// A deadline far enough away to stand for "no timer" in a `select!`.
pub fn far_future() -> tokio::time::Instant {
    tokio::time::Instant::now() + std::time::Duration::from_secs(3600)
}

/// Seconds since the Unix epoch (0 before it).
pub fn unix_now() -> u64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The writer thread: group commit. Returns the record queue and the durable watermark.
/// Shared by the DHCPv4 and DHCPv6 drivers (`name` names the thread and the log lines).
/// After the first record of a batch it waits `delay` for more to join it.
pub fn spawn_writer<R>(
    mut log: Log<R>,
    name: &'static str,
    delay: Duration,
) -> (mpsc::Sender<(u64, R)>, watch::Receiver<Durable>)
where
    R: Record + Send + 'static,
    R::Key: Send,
{
    let (tx, rx) = mpsc::channel::<(u64, R)>();
    let (done_tx, done_rx) = watch::channel(Durable::default());
    std::thread::Builder::new()
        .name(format!("{name}-leases"))
        .spawn(move || {
            let mut batch = Vec::new();
            while let Ok(first) = rx.recv() {
                batch.clear();
                batch.push(first);
                if !delay.is_zero() {
                    std::thread::sleep(delay);
                }
                batch.extend(rx.try_iter());
                let seq = batch.last().map_or(0, |(s, _)| *s);
                if let Err(e) = log.commit(batch.iter().map(|(_, r)| r)) {
                    error!("{name}: lease store failed, no more leases granted: {e}");
                    let _ = done_tx.send(Durable { seq: 0, failed: Some(e.to_string()) });
                    return;
                }
                if done_tx.send(Durable { seq, failed: None }).is_err() {
                    return;
                }
            }
        })
        .map(|_| ())
        .unwrap_or_else(|e| error!("{name}: cannot start the lease writer: {e}"));
    (tx, done_rx)
}

/// Passes a machine's events on to `events`, waiting for room when the channel is full, so a
/// lease event (and the host name it carries to DNS) is never dropped: a slow consumer slows
/// the server down (back-pressure, bounded by the channel), it does not lose state. A closed
/// channel (nobody listens any more) drops them.
pub async fn deliver<E>(events: Option<&tokio_mpsc::Sender<E>>, evs: impl Iterator<Item = E>) {
    for ev in evs {
        if let Some(ch) = events {
            if ch.send(ev).await.is_err() {
                return;
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// 1,000 events through a channel of 4 that is read slowly: every one arrives, in order.
    /// (`try_send`, which this replaced, lost all but the first few.)
    #[tokio::test]
    async fn deliver_waits_for_room_instead_of_dropping() {
        let (tx, mut rx) = tokio_mpsc::channel::<u32>(4);
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            while let Some(v) = rx.recv().await {
                got.push(v);
                if v % 100 == 0 {
                    tokio::task::yield_now().await;
                }
            }
            got
        });
        deliver(Some(&tx), 0..1000).await;
        drop(tx);
        assert_eq!(reader.await.unwrap(), (0..1000).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn deliver_to_a_closed_channel_returns() {
        let (tx, rx) = tokio_mpsc::channel::<u32>(1);
        drop(rx);
        deliver(Some(&tx), 0..10).await;
        deliver(None, 0..10).await;
    }
}
