//! The lease log: record round trips, crash recovery, compaction, load time.

use std::os::unix::fs::FileExt;
use std::time::Instant;

use crate::server::store::{LeaseLog, LeaseRecord, RecordState, next_frame};
use crate::server::table::HwAddr;

use super::*;

fn record(n: u32, state: RecordState) -> LeaseRecord {
    LeaseRecord {
        address: Ipv4Addr::from(0xc0a8_0000 + (n % 60_000)),
        state,
        expires: UNIX0 + u64::from(n),
        hw: HwAddr::ethernet([2, 0, 0, (n >> 16) as u8, (n >> 8) as u8, n as u8]),
        client_id: if n % 2 == 0 { vec![1, 2, 0, 0, 0, n as u8] } else { vec![] },
        hostname: (n % 3 == 0).then(|| format!("host-{n}")),
    }
}

fn tempdir(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("dhcp4-store-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn record_round_trip() {
    for n in 0..50 {
        let r = record(
            n,
            [RecordState::Bound, RecordState::Released, RecordState::Declined][n as usize % 3],
        );
        let mut buf = Vec::new();
        r.encode(&mut buf);
        let (back, rest) = next_frame(&buf).unwrap().unwrap();
        assert_eq!(back, r);
        assert!(rest.is_empty());
    }
}

#[test]
fn a_flipped_bit_or_a_short_frame_is_rejected() {
    let mut buf = Vec::new();
    record(7, RecordState::Bound).encode(&mut buf);
    for i in 0..buf.len() {
        let mut bad = buf.clone();
        bad[i] ^= 0x10;
        assert!(
            !matches!(next_frame(&bad), Ok(Some((r, _))) if r == record(7, RecordState::Bound))
        );
        assert!(next_frame(&buf[..i + 1]).is_err() || i + 1 == buf.len());
    }
}

#[test]
fn crash_recovery_ignores_a_torn_last_record() {
    let dir = tempdir("torn");
    let end = {
        let (mut log, report) = LeaseLog::open(&dir).unwrap();
        assert_eq!(report.records, 0);
        let recs: Vec<_> = (0..100).map(|n| record(n, RecordState::Bound)).collect();
        log.commit(&recs).unwrap();
        log.used_bytes()
    };
    // The file is zero-filled ahead of the records; reopened, that is the clean end.
    let path = dir.join(LeaseLog::FILE);
    assert!(std::fs::metadata(&path).unwrap().len() > end);
    let (_, report) = LeaseLog::open(&dir).unwrap();
    assert_eq!((report.records, report.torn_bytes), (100, 0));
    // kill -9 in the middle of the 101st write: half a frame over the zeros.
    let mut frame = Vec::new();
    record(100, RecordState::Bound).encode(&mut frame);
    let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.write_all_at(&frame[..frame.len() / 2], end).unwrap();
    drop(f);
    let (mut log, report) = LeaseLog::open(&dir).unwrap();
    assert_eq!(report.records, 100);
    let half = frame[..frame.len() / 2].iter().rposition(|&b| b != 0).unwrap() + 1;
    assert_eq!(report.torn_bytes as usize, half);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), end, "cut at the last good record");
    // The tail was cut: what is appended next is found after the next restart.
    log.commit([&record(200, RecordState::Released)]).unwrap();
    drop(log);
    let (log, report) = LeaseLog::open(&dir).unwrap();
    assert_eq!((report.records, report.torn_bytes), (101, 0));
    assert!(log.leases().any(|r| *r == record(200, RecordState::Released)));
    // Garbage instead of a frame: also cut, never a panic.
    let end = log.used_bytes();
    drop(log);
    let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.write_all_at(&[0xff; 13], end).unwrap();
    drop(f);
    let (_, report) = LeaseLog::open(&dir).unwrap();
    assert_eq!((report.records, report.torn_bytes), (101, 13));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_torn_header_starts_a_new_log_and_a_foreign_file_is_refused() {
    let dir = tempdir("header");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(LeaseLog::FILE), b"RDHC").unwrap();
    let (_, report) = LeaseLog::open(&dir).unwrap();
    assert_eq!(report.records, 0);
    std::fs::write(dir.join(LeaseLog::FILE), b"lease 192.168.1.5 {").unwrap();
    assert!(LeaseLog::open(&dir).is_err());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn compaction_keeps_the_last_record_per_address() {
    let dir = tempdir("compact");
    let (mut log, _) = LeaseLog::open(&dir).unwrap();
    // 20 renewals of 500 addresses: 10,000 records, 500 live.
    for round in 0..20u32 {
        let recs: Vec<_> = (0..500)
            .map(|n| LeaseRecord {
                expires: UNIX0 + u64::from(round),
                ..record(n, RecordState::Bound)
            })
            .collect();
        log.commit(&recs).unwrap();
    }
    assert!(log.records_in_file() < 10_000, "compacted on the way");
    log.compact().unwrap();
    assert_eq!(log.records_in_file(), 500);
    drop(log);
    let (log, report) = LeaseLog::open(&dir).unwrap();
    assert_eq!((report.records, report.live), (500, 500));
    assert!(log.leases().all(|r| r.expires == UNIX0 + 19));
    assert!(!dir.join("leases4.log.new").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

/// The log keeps where each address's last frame is, not the record: compaction copies
/// those frames. Appends after a compaction, a second compaction, and a reopen give back
/// exactly the last record of every address (a model kept beside it).
#[test]
fn compaction_copies_the_last_frames_across_appends_and_reopens() {
    let dir = tempdir("compact-model");
    let mut model = std::collections::HashMap::new();
    let (mut log, _) = LeaseLog::open(&dir).unwrap();
    for round in 0..6u32 {
        // A different mix each round: some addresses renewed, some released, new ones.
        let recs: Vec<_> = (0..700)
            .filter(|n| (n + round) % 3 != 0)
            .map(|n| {
                let state =
                    if (n + round) % 5 == 0 { RecordState::Released } else { RecordState::Bound };
                LeaseRecord {
                    expires: UNIX0 + u64::from(round * 1000 + n),
                    ..record(n + round * 50, state)
                }
            })
            .collect();
        for r in &recs {
            model.insert(r.address, r.clone());
        }
        log.append(&recs).unwrap();
        if round % 2 == 1 {
            log.compact().unwrap();
            assert_eq!(log.records_in_file(), model.len() as u64);
        }
    }
    log.sync().unwrap();
    drop(log);
    let (mut log, report) = LeaseLog::open(&dir).unwrap();
    assert_eq!(report.live, model.len());
    let mut got: Vec<_> = log.take_loaded();
    assert!(log.leases().next().is_none(), "handed over");
    got.sort_by_key(|r| r.address);
    let mut want: Vec<_> = model.into_values().collect();
    want.sort_by_key(|r| r.address);
    assert_eq!(got, want);
    // Compacted once more after the reopen: still the same.
    log.compact().unwrap();
    drop(log);
    let (log, _) = LeaseLog::open(&dir).unwrap();
    let mut again: Vec<_> = log.leases().cloned().collect();
    again.sort_by_key(|r| r.address);
    assert_eq!(again, want);
    let _ = std::fs::remove_dir_all(&dir);
}

/// 300,000 records (60,000 addresses, 5 records each). Prints the load time; run with
/// `--release -- --nocapture load_300k` for the figure in the README.
#[test]
fn load_300k_records() {
    let dir = tempdir("300k");
    let (mut log, _) = LeaseLog::open(&dir).unwrap();
    let recs: Vec<_> = (0..300_000).map(|n| record(n, RecordState::Bound)).collect();
    log.append(&recs).unwrap();
    log.sync().unwrap();
    drop(log);
    let size = std::fs::metadata(dir.join(LeaseLog::FILE)).unwrap().len();
    let t = Instant::now();
    let (log, report) = LeaseLog::open(&dir).unwrap();
    let load = t.elapsed();
    assert_eq!((report.records, report.live), (300_000, 60_000));
    let t = Instant::now();
    let mut c = cfg();
    c.subnet = "192.168.0.0/16".parse().unwrap();
    c.server_id = ip("192.168.255.254");
    c.pool = PoolRange { first: ip("192.168.0.10"), last: ip("192.168.255.250") };
    let mut s = Server::new(c, Instant::now(), UNIX0).unwrap();
    s.restore(log.leases());
    println!(
        "lease log: {} records, {} bytes: LeaseLog::open {load:?}, Server::restore {:?}",
        report.records,
        size,
        t.elapsed()
    );
    assert_eq!(s.table().len(), 60_000);
    let _ = std::fs::remove_dir_all(&dir);
}

/// 1,000,000 live leases (a /12): the load and restore times, for profiling
/// (`cargo test --release -p dhcpv4 -- --ignored --nocapture load_1m_live`).
#[test]
#[ignore = "a profile run: 1,000,000 leases, about 0.5 GB"]
fn load_1m_live_leases() {
    let dir = tempdir("1m");
    let (mut log, _) = LeaseLog::open(&dir).unwrap();
    let recs: Vec<_> = (0..1_000_000u32)
        .map(|n| LeaseRecord {
            address: Ipv4Addr::from(0x0a40_000a + n),
            hw: HwAddr::ethernet([
                2,
                0x5e,
                (n >> 24) as u8,
                (n >> 16) as u8,
                (n >> 8) as u8,
                n as u8,
            ]),
            client_id: Vec::new(),
            hostname: Some(format!("host-{n}")),
            ..record(n, RecordState::Bound)
        })
        .collect();
    log.append(&recs).unwrap();
    log.sync().unwrap();
    drop((log, recs));
    let t = Instant::now();
    let (mut log, report) = LeaseLog::open(&dir).unwrap();
    let load = t.elapsed();
    let t = Instant::now();
    let mut c = cfg();
    c.subnet = "10.64.0.0/12".parse().unwrap();
    c.server_id = ip("10.64.0.1");
    c.pool = PoolRange { first: ip("10.64.0.10"), last: ip("10.79.255.250") };
    let mut s = Server::new(c, Instant::now(), UNIX0).unwrap();
    let loaded = log.take_loaded();
    s.restore(&loaded);
    println!(
        "1M live: LeaseLog::open {load:?} ({} records), Server::restore {:?}",
        report.records,
        t.elapsed()
    );
    assert_eq!(s.table().len(), 1_000_000);
    let _ = std::fs::remove_dir_all(&dir);
}
