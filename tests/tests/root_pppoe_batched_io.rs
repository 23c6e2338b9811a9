//! The PPPoE data path without its packet rings (root): `pppoe::driver::set_packet_rings(false)`
//! makes both ends (our client and ispemu's access concentrator) receive with batched
//! `recvmmsg` and send with `sendmmsg`, as they do on a kernel that refuses a ring. A TCP
//! transfer both ways through the session keeps every byte. (A test binary of its own: the
//! switch holds for the whole process.)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use router_tests::TempDir;
use router_tests::wan::{Isp, Line, Wan, kpn_credentials};

#[test]
fn root_pppoe_batched_io_without_rings_keeps_every_byte() {
    pppoe::driver::set_packet_rings(false);
    let line = Line::new("pppbatch");
    let dir = TempDir::new("root-pppoe-batched");
    let _isp = Isp::start(&line.isp, dir.path(), "");
    let mut wan = Wan::start(
        &line.router,
        pppoe::driver::client::Config::new("eth0", Some(kpn_credentials())),
    );
    wan.up(Duration::from_secs(15));
    router_tests::wan::transfer(&line.router, &line.inet, 4, "198.51.100.");
    let counters = wan.stop();
    assert_eq!(counters.dropped_frames.load(std::sync::atomic::Ordering::Relaxed), 0);
}
