//! Every file of the fuzz seed corpus through clients in every state, on stable.

use std::path::{Path, PathBuf};
use std::time::Instant;

use dhcproto::v4::{DhcpOption, MessageType};

use super::*;
use crate::fuzzing::{clients_in_every_state, run_client, server};

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/dhcp4_client")
}

fn seeds() -> Vec<Vec<u8>> {
    let dir = corpus_dir();
    std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect()
}

#[test]
fn fuzz_corpus_does_not_panic() {
    let seeds = seeds();
    for data in &seeds {
        run_client(data);
    }
    assert!(seeds.len() >= 5, "seed corpus has only {} files", seeds.len());
}

#[test]
fn the_fuzz_driver_reaches_every_state() {
    use Phase::*;
    let phases: Vec<_> =
        clients_in_every_state(Instant::now()).iter().map(|(c, _)| c.phase()).collect();
    let want = [
        Init, Selecting, Requesting, Bound, Renewing, Rebinding, Stopped, InitReboot, Rebooting,
        Rebooting,
    ];
    assert_eq!(phases, want);
}

#[test]
fn the_corpus_ack_binds_a_requesting_client_once_patched() {
    let data = std::fs::read(corpus_dir().join("ack_from_dhcp_server")).unwrap();
    let staged = clients_in_every_state(Instant::now());
    let (client, now) = &staged[2];
    let mut c = client.clone();
    c.handle_input(*now, &crate::fuzzing::patched(client, &data));
    assert_eq!(c.phase(), Phase::Bound);
}

/// A bounded, seeded mutation run over the corpus on stable (cargo-fuzz needs nightly).
/// `DHCP4_CLIENT_MUTATIONS` raises the count for a longer hunt.
#[test]
fn seeded_mutations_of_the_corpus_do_not_panic() {
    let n: usize =
        std::env::var("DHCP4_CLIENT_MUTATIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(300);
    let seeds = seeds();
    let mut rng = crate::client::rng::Rng::new(0x5eed);
    for _ in 0..n {
        let mut data = seeds[rng.below(seeds.len() as u64) as usize].clone();
        for _ in 0..=rng.below(4) {
            let at = rng.below(data.len() as u64 + 1) as usize;
            match rng.below(4) {
                0 if at < data.len() => data[at] = rng.next_u64() as u8,
                1 => data.truncate(at),
                2 => data.insert(at, rng.next_u64() as u8),
                _ if at < data.len() => data[at] ^= 1 << rng.below(8),
                _ => {}
            }
        }
        run_client(&data);
    }
}

/// Writes the seed corpus (run by hand: `cargo test -p dhcpv4 -- --ignored
/// write_seed_corpus`). Provenance: replies of `crate::server::Server` (this workspace) to this
/// client, and hand-made replies from `tests::reply`.
#[test]
#[ignore]
fn write_seed_corpus() {
    let dir = corpus_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, bytes: &[u8]| std::fs::write(dir.join(name), bytes).unwrap();
    // The server's OFFER and ACK.
    let t0 = Instant::now();
    let mut s = server(t0).unwrap();
    let mut c = Client::new(client_cfg(1), t0);
    c.handle_timeout(t0);
    let discover = c.poll_transmit().unwrap();
    write("discover_bootrequest", &discover.payload);
    let src = crate::server::Meta { src: SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68) };
    s.handle_input(t0, &discover.payload, &src);
    let offer = s.poll_transmit().unwrap().payload;
    write("offer_from_dhcp_server", &offer);
    write("offer_truncated", &offer[..250]);
    write("header_only", &[&offer[..240], &[0xff][..]].concat());
    c.handle_input(t0, &offer);
    let request = c.poll_transmit().unwrap();
    s.handle_input(t0, &request.payload, &src);
    while let Some(x) = s.poll_commit() {
        s.handle_committed(x.seq);
    }
    let ack = s.poll_transmit().unwrap().payload;
    write("ack_from_dhcp_server", &ack);
    // A NAK to INIT-REBOOT for an address outside the server's subnet.
    let mut cfg = client_cfg(2);
    cfg.requested_address = Some(ip("10.1.2.3"));
    let mut r = Client::new(cfg, t0);
    r.handle_timeout(t0);
    s.handle_input(t0, &r.poll_transmit().unwrap().payload, &src);
    write("nak_from_dhcp_server", &s.poll_transmit().unwrap().payload);
    // Hand-made: Rapid Commit ACK; classless routes and T1/T2.
    let d = decode_checked(&discover.payload, BOOTREQUEST).unwrap();
    let mut opts = lease_opts();
    opts.push(DhcpOption::RapidCommit);
    write("ack_rapid_commit", &reply(&d, MessageType::Ack, ip("198.51.100.100"), SERVER_A, opts));
    let mut opts = lease_opts();
    opts.push(DhcpOption::ClasslessStaticRoute(vec![
        ("10.0.0.0/8".parse().unwrap(), ip("198.51.100.9")),
        ("0.0.0.0/0".parse().unwrap(), ip("198.51.100.254")),
    ]));
    opts.push(DhcpOption::Renewal(10));
    opts.push(DhcpOption::Rebinding(20));
    write("ack_routes_timers", &reply(&d, MessageType::Ack, ip("198.51.100.7"), SERVER_A, opts));
    // A script: time steps of 49 s, 1 s and 4,096 s (≥ the lease), with the ACK after them.
    let mut script = vec![0x87, 0x81];
    script.push(0x7f);
    script.extend_from_slice(&ack[..127]);
    script.push(0xc0);
    write("script_time_and_datagram", &script);
}
