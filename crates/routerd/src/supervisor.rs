//! The supervisor: each service is a task that runs until its stop signal; one that ends on
//! its own (an error, or returning early) is started again after a back-off that doubles
//! from 1 s to 60 s, and is reset once a run has lasted a minute. A reload restarts a
//! service on purpose: it is stopped cleanly and started at once with the new
//! configuration. Each service's state is on the bus (`Bus::services`), which it alone writes.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tracing::{error, info, warn};

use crate::service::ServiceId;
use crate::service::{Readiness, Ready, ServiceState, ServiceStatus, Services};

/// First back-off after a failure.
pub const BACKOFF_MIN: Duration = Duration::from_secs(1);
/// Longest back-off.
pub const BACKOFF_MAX: Duration = Duration::from_secs(60);
/// A run this long resets the back-off.
pub const STABLE_AFTER: Duration = Duration::from_secs(60);

/// What a service's future gets: it turns `true` when the service must stop (shutdown or a
/// restart asked by a reload).
pub type Stop = watch::Receiver<bool>;

/// The back-off before the next start, given the one before and how long the run lasted.
pub fn next_backoff(previous: Option<Duration>, ran: Duration) -> Duration {
    match previous {
        Some(b) if ran < STABLE_AFTER => (b * 2).min(BACKOFF_MAX),
        _ => BACKOFF_MIN,
    }
}

/// Starts, watches and restarts services.
pub struct Supervisor {
    status: Services,
    ready: Readiness,
    shutdown: watch::Receiver<bool>,
    services: BTreeMap<ServiceId, (Arc<Notify>, JoinHandle<()>)>,
}

fn update(status: &Services, name: &ServiceId, f: impl FnOnce(&mut ServiceStatus)) {
    status.send_modify(|s| f(s.entry(name.clone()).or_default()));
}

impl Supervisor {
    /// A supervisor whose services all stop when `shutdown` turns true.
    /// What a service declares it needs is read from `ready`.
    pub fn new(status: Services, ready: Readiness, shutdown: watch::Receiver<bool>) -> Self {
        Self { status, ready, shutdown, services: BTreeMap::new() }
    }

    /// Runs the service `name` once everything in `needs` holds (checked before every
    /// start): `make` is called for every start (so it reads the configuration of that
    /// moment) and its future must return once its [`Stop`] turns true.
    pub fn spawn<F, Fut, E>(&mut self, name: ServiceId, needs: &[Ready], mut make: F)
    where
        F: FnMut(Stop) -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Display + Send + 'static,
    {
        let restart = Arc::new(Notify::new());
        let (status, mut shutdown, wake, mut ready) =
            (self.status.clone(), self.shutdown.clone(), restart.clone(), self.ready.clone());
        let svc = name.clone();
        let needs = needs.to_vec();
        update(&status, &svc, |s| {
            s.state = ServiceState::Starting;
            s.needs = needs.clone();
        });
        let task = tokio::spawn(async move {
            let mut backoff: Option<Duration> = None;
            loop {
                if !needs.iter().all(|n| ready.borrow().contains(n)) {
                    update(&status, &svc, |s| s.state = ServiceState::Waiting);
                    tokio::select! {
                        r = ready.wait_for(|r| needs.iter().all(|n| r.contains(n))) => {
                            if r.is_err() {
                                update(&status, &svc, |s| s.state = ServiceState::Stopped);
                                return;
                            }
                        }
                        _ = shutdown.wait_for(|s| *s) => {
                            update(&status, &svc, |s| s.state = ServiceState::Stopped);
                            return;
                        }
                    }
                }
                let (stop_tx, stop_rx) = watch::channel(false);
                let fut = make(stop_rx);
                tokio::pin!(fut);
                let started = Instant::now();
                update(&status, &svc, |s| s.state = ServiceState::Running);
                let mut requested = false;
                let result = loop {
                    tokio::select! {
                        r = &mut fut => break r,
                        () = wake.notified(), if !requested => {
                            requested = true;
                            let _ = stop_tx.send(true);
                        }
                        r = shutdown.changed(), if !requested => {
                            if r.is_err() || *shutdown.borrow() {
                                requested = true;
                                let _ = stop_tx.send(true);
                            }
                        }
                    }
                };
                if *shutdown.borrow() || shutdown.has_changed().is_err() {
                    if let Err(e) = result {
                        warn!(service = %svc, error = %e, "stopped with an error");
                    }
                    update(&status, &svc, |s| s.state = ServiceState::Stopped);
                    return;
                }
                if requested {
                    info!(service = %svc, "restarting with the new configuration");
                    update(&status, &svc, |s| {
                        s.state = ServiceState::Restarting;
                        s.restarts += 1;
                    });
                    backoff = None;
                    continue;
                }
                let why = match result {
                    Err(e) => e.to_string(),
                    Ok(()) => "ended on its own".to_string(),
                };
                let wait = next_backoff(backoff, started.elapsed());
                backoff = Some(wait);
                error!(service = %svc, error = %why, retry_in = ?wait, "service failed");
                update(&status, &svc, |s| {
                    s.state = ServiceState::Backoff;
                    s.restarts += 1;
                    s.last_error = Some(why);
                });
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = wake.notified() => {}
                    _ = async { while !*shutdown.borrow() { if shutdown.changed().await.is_err() { break } } } => {
                        update(&status, &svc, |s| s.state = ServiceState::Stopped);
                        return;
                    }
                }
            }
        });
        if let Some((_, old)) = self.services.insert(name, (restart, task)) {
            old.abort();
        }
    }

    /// Stops `name` and starts it again (with the configuration of that moment). False if
    /// there is no such service.
    pub fn restart(&self, name: &ServiceId) -> bool {
        match self.services.get(name) {
            Some((n, _)) => {
                n.notify_one();
                true
            }
            None => false,
        }
    }

    /// A reload's restarts: asks each of `names` to restart now and returns a future that
    /// watches them for `settle`; it resolves to the services that could not be restarted
    /// (unknown names) or that failed after their restart, each with why. A reload is
    /// reported applied only when this is empty.
    pub fn restart_watched(
        &self,
        names: &[ServiceId],
        settle: Duration,
    ) -> impl Future<Output = Vec<(ServiceId, String)>> + Send + use<> {
        let status = self.status.clone();
        let restarts = |n: &ServiceId| status.borrow().get(n).map_or(0, |s| s.restarts);
        let mut failed = Vec::new();
        let mut watched = Vec::new();
        for n in names {
            let before = restarts(n);
            if self.restart(n) {
                watched.push((n.clone(), before));
            } else {
                failed.push((n.clone(), "no such service".to_string()));
            }
        }
        async move {
            let until = tokio::time::Instant::now() + settle;
            while tokio::time::Instant::now() < until && !watched.is_empty() {
                tokio::time::sleep(Duration::from_millis(50)).await;
                let s = status.borrow().clone();
                watched.retain(|(n, before)| match s.get(n) {
                    // It was restarted (the count moved past the reload's own restart) and
                    // failed since: its back-off is the failure.
                    Some(v) if v.state == ServiceState::Backoff && v.restarts > before + 1 => {
                        let why = v.last_error.clone().unwrap_or_else(|| "failed".into());
                        failed.push((n.clone(), why));
                        false
                    }
                    Some(_) => true,
                    None => {
                        failed.push((n.clone(), "gone".into()));
                        false
                    }
                });
            }
            failed
        }
    }

    /// The services.
    pub fn names(&self) -> impl Iterator<Item = &ServiceId> {
        self.services.keys()
    }

    /// Waits for every service to stop (after shutdown), each for at most `limit`.
    pub async fn join(self, limit: Duration) {
        for (name, (_, task)) in self.services {
            if tokio::time::timeout(limit, task).await.is_err() {
                warn!(service = %name, "did not stop within {limit:?}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[test]
    fn backoff_doubles_to_the_cap_and_resets_after_a_stable_run() {
        let short = Duration::from_secs(1);
        let mut b = None;
        let mut seen = Vec::new();
        for _ in 0..9 {
            let n = next_backoff(b, short);
            seen.push(n.as_secs());
            b = Some(n);
        }
        assert_eq!(seen, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(next_backoff(b, STABLE_AFTER), BACKOFF_MIN);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failing_service_is_restarted_with_backoff_and_a_restart_request_is_immediate() {
        let status: Services = Arc::new(watch::Sender::new(Default::default()));
        let (tx, rx) = watch::channel(false);
        let (_ready_tx, ready) = watch::channel(Default::default());
        let mut sup = Supervisor::new(status.clone(), ready, rx);
        let starts = Arc::new(AtomicU32::new(0));
        let n = starts.clone();
        // Fails on its first two starts, then runs until told to stop.
        sup.spawn(ServiceId::Dmz, &[], move |mut stop: Stop| {
            let k = n.fetch_add(1, Ordering::SeqCst);
            async move {
                if k < 2 {
                    return Err(format!("boom {k}"));
                }
                while !*stop.borrow() {
                    if stop.changed().await.is_err() {
                        break;
                    }
                }
                Ok(())
            }
        });
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(starts.load(Ordering::SeqCst), 1);
        assert_eq!(status.borrow()[&ServiceId::Dmz].state, ServiceState::Backoff);
        tokio::time::sleep(Duration::from_millis(1000)).await; // 1 s back-off over
        assert_eq!(starts.load(Ordering::SeqCst), 2);
        tokio::time::sleep(Duration::from_millis(1500)).await; // 2 s back-off not over
        assert_eq!(starts.load(Ordering::SeqCst), 2);
        tokio::time::sleep(Duration::from_millis(1000)).await;
        assert_eq!(starts.load(Ordering::SeqCst), 3);
        {
            let s = &status.borrow()[&ServiceId::Dmz];
            assert_eq!((s.state, s.restarts), (ServiceState::Running, 2));
            assert_eq!(s.last_error.as_deref(), Some("boom 1"));
        }
        assert!(sup.restart(&ServiceId::Dmz));
        assert!(!sup.restart(&ServiceId::Wan));
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(starts.load(Ordering::SeqCst), 4);
        assert_eq!(status.borrow()[&ServiceId::Dmz].restarts, 3);
        tx.send(true).unwrap();
        sup.join(Duration::from_secs(1)).await;
        assert_eq!(status.borrow()[&ServiceId::Dmz].state, ServiceState::Stopped);
        assert_eq!(starts.load(Ordering::SeqCst), 4);
    }

    /// A reload whose restarted service fails to come back is reported, with the error; one
    /// that comes back is not; an unknown service name is reported too (before, all three
    /// were "applied").
    #[tokio::test(start_paused = true)]
    async fn a_reload_restart_that_fails_is_reported_with_its_error() {
        let status: Services = Arc::new(watch::Sender::new(Default::default()));
        let (_tx, rx) = watch::channel(false);
        let (_ready_tx, ready) = watch::channel(Default::default());
        let mut sup = Supervisor::new(status.clone(), ready, rx);
        let starts = Arc::new(AtomicU32::new(0));
        let n = starts.clone();
        // Runs on its first start; every later start fails (a bad new configuration).
        sup.spawn(ServiceId::Wan, &[], move |mut stop: Stop| {
            let k = n.fetch_add(1, Ordering::SeqCst);
            async move {
                if k > 0 {
                    return Err("wan.pppoe.password_file /x: gone".to_string());
                }
                while !*stop.borrow() {
                    if stop.changed().await.is_err() {
                        break;
                    }
                }
                Ok(())
            }
        });
        sup.spawn(ServiceId::Dns, &[], |mut stop: Stop| async move {
            while !*stop.borrow() {
                if stop.changed().await.is_err() {
                    break;
                }
            }
            Ok::<(), String>(())
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        let names = [ServiceId::Wan, ServiceId::Dns, ServiceId::Pd];
        let failed = sup.restart_watched(&names, Duration::from_secs(3)).await;
        assert_eq!(
            failed,
            vec![
                (ServiceId::Pd, "no such service".to_string()),
                (ServiceId::Wan, "wan.pppoe.password_file /x: gone".to_string()),
            ]
        );
        let ok = sup.restart_watched(&[ServiceId::Dns], Duration::from_secs(3)).await;
        assert!(ok.is_empty(), "{ok:?}");
    }

    /// A service that declares it needs the WAN waits (state `waiting`) until the WAN is up,
    /// and again after a failure while it is down; one that needs nothing starts at once.
    #[tokio::test(start_paused = true)]
    async fn a_service_starts_only_when_what_it_needs_holds() {
        let status: Services = Arc::new(watch::Sender::new(Default::default()));
        let (_tx, rx) = watch::channel(false);
        let ready_tx = watch::Sender::new(std::collections::BTreeSet::from([Ready::Firewall]));
        let mut sup = Supervisor::new(status.clone(), ready_tx.subscribe(), rx);
        let starts = Arc::new(AtomicU32::new(0));
        let n = starts.clone();
        // Fails once it has run (the link it used went away).
        sup.spawn(ServiceId::Pd, &[Ready::Firewall, Ready::Wan], move |_stop: Stop| {
            n.fetch_add(1, Ordering::SeqCst);
            async { Err::<(), _>("ppp0 gone") }
        });
        sup.spawn(ServiceId::Firewall, &[Ready::Firewall], |mut stop: Stop| async move {
            let _ = stop.wait_for(|s| *s).await;
            Ok::<(), String>(())
        });
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(starts.load(Ordering::SeqCst), 0, "started before the WAN was up");
        assert_eq!(status.borrow()[&ServiceId::Pd].state, ServiceState::Waiting);
        assert_eq!(status.borrow()[&ServiceId::Pd].needs, [Ready::Firewall, Ready::Wan]);
        assert_eq!(status.borrow()[&ServiceId::Firewall].state, ServiceState::Running);
        ready_tx.send_modify(|r| {
            r.insert(Ready::Wan);
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(starts.load(Ordering::SeqCst), 1);
        // The WAN goes down: after its back-off it waits again instead of failing on.
        ready_tx.send_modify(|r| {
            r.remove(&Ready::Wan);
        });
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert_eq!(starts.load(Ordering::SeqCst), 1);
        assert_eq!(status.borrow()[&ServiceId::Pd].state, ServiceState::Waiting);
    }
}
