//! Timeline tests of the advertiser on a fake clock.

#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

mod captured;

use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

use crate::advertiser::*;
use crate::wire::{FLAG_MANAGED, FLAG_OTHER, NdOption, RouterAdvertisement, RouterSolicitation};

const HOST: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0x42);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn cfg() -> Config {
    Config {
        dhcpv6: Dhcpv6Mode::Stateless,
        mtu: Some(1500),
        rdnss: vec!["2001:db8:1::53".parse().unwrap()],
        dnssl: vec!["lan.example".into()],
        lladdr: Some([2, 0, 0, 0, 0, 1]),
        min_interval: Duration::from_secs(200),
        max_interval: Duration::from_secs(600),
        seed: 7,
        ..Config::default()
    }
}

fn prefix(s: &str, preferred: u64, valid: u64) -> PrefixInfo {
    PrefixInfo {
        prefix: s.parse().unwrap(),
        len: 64,
        preferred: Some(Duration::from_secs(preferred)),
        valid: Some(Duration::from_secs(valid)),
    }
}

fn rs() -> Vec<u8> {
    RouterSolicitation { options: vec![NdOption::SourceLinkLayerAddress(vec![2, 0, 0, 0, 0, 9])] }
        .to_vec()
}

/// Runs the machine from `t` until `until`, returning (time, RA) of every transmit.
fn run(m: &mut Advertiser, t: &mut Instant, until: Instant) -> Vec<(Instant, RouterAdvertisement)> {
    let mut out = Vec::new();
    loop {
        while let Some(tx) = m.poll_transmit() {
            assert_eq!(tx.dst, ALL_NODES);
            out.push((*t, RouterAdvertisement::parse(&tx.bytes).unwrap()));
        }
        match m.poll_timeout() {
            Some(at) if at <= until => {
                assert!(at >= *t, "deadline in the past");
                *t = at;
                m.handle_timeout(at);
            }
            _ => return out,
        }
    }
}

fn prefixes(ra: &RouterAdvertisement) -> Vec<(Ipv6Addr, u32, u32)> {
    ra.options
        .iter()
        .filter_map(|o| match o {
            NdOption::PrefixInformation(p) => {
                Some((p.prefix, p.preferred_lifetime, p.valid_lifetime))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn initial_then_periodic_intervals() {
    let t0 = Instant::now();
    let mut t = t0;
    let mut m = Advertiser::new(cfg(), t0);
    let ras = run(&mut m, &mut t, t0 + Duration::from_secs(3000));
    assert_eq!(ras[0].0, t0, "first RA at once");
    let gaps: Vec<Duration> = ras.windows(2).map(|w| w[1].0 - w[0].0).collect();
    // RFC 4861 §6.2.4: the first MAX_INITIAL_RTR_ADVERTISEMENTS at most 16 s apart.
    for g in &gaps[..2] {
        assert!(*g <= MAX_INITIAL_RTR_ADVERT_INTERVAL, "{gaps:?}");
    }
    for g in &gaps[2..] {
        assert!(*g >= Duration::from_secs(200) && *g <= Duration::from_secs(600), "{gaps:?}");
    }
    assert!(gaps.len() >= 6);
}

#[test]
fn flags_options_and_uplink() {
    let t0 = Instant::now();
    let mut t = t0;
    let mut m = Advertiser::new(cfg(), t0);
    let ras = run(&mut m, &mut t, t0);
    let ra = &ras[0].1;
    assert_eq!(ra.flags, FLAG_OTHER);
    assert_eq!(ra.router_lifetime, 0, "no uplink yet: not a default router");
    assert!(ra.options.contains(&NdOption::Mtu(1500)));
    assert!(ra.options.iter().any(|o| matches!(o, NdOption::Rdnss { lifetime: 1800, .. })));
    assert!(ra.options.iter().any(|o| matches!(o, NdOption::Dnssl { .. })));
    // Uplink comes up 1 s later: a new RA, rate-limited to 3 s after the last one.
    m.set_uplink(t0 + Duration::from_secs(1), true);
    let ras = run(&mut m, &mut t, t0 + Duration::from_secs(5));
    assert_eq!(ras.len(), 1);
    assert_eq!(ras[0].0, t0 + MIN_DELAY_BETWEEN_RAS);
    assert_eq!(ras[0].1.router_lifetime, 1800);
    let stateful = Advertiser::new(Config { dhcpv6: Dhcpv6Mode::Stateful, ..cfg() }, t0);
    assert_eq!(stateful.advertisement(t0, 0).flags, FLAG_MANAGED | FLAG_OTHER);
    let off = Advertiser::new(Config { dhcpv6: Dhcpv6Mode::Off, ..cfg() }, t0);
    assert_eq!(off.advertisement(t0, 0).flags, 0);
}

#[test]
fn solicitation_answered_after_random_delay() {
    let t0 = Instant::now();
    let mut t = t0;
    let mut m = Advertiser::new(cfg(), t0);
    // Past the initial RAs.
    run(&mut m, &mut t, t0 + Duration::from_secs(60));
    let rs_at = t0 + Duration::from_secs(100);
    let next = m.poll_timeout().unwrap();
    assert!(next > rs_at + Duration::from_secs(1));
    m.handle_input(rs_at, HOST, &rs());
    let answer = m.poll_timeout().unwrap();
    assert!(answer >= rs_at && answer <= rs_at + MAX_RA_DELAY_TIME, "{:?}", answer - rs_at);
    t = rs_at;
    let ras = run(&mut m, &mut t, answer);
    assert_eq!(ras.len(), 1);
    // A second RS right after: rate-limited to 3 s after the answer.
    m.handle_input(answer + ms(100), HOST, &rs());
    let second = m.poll_timeout().unwrap();
    assert!(second >= answer + MIN_DELAY_BETWEEN_RAS, "{:?}", second - answer);
    assert!(second <= answer + MIN_DELAY_BETWEEN_RAS + MAX_RA_DELAY_TIME);
    assert_eq!(m.stats().rs_received, 2);
}

#[test]
fn solicitation_covered_by_a_due_unsolicited_ra() {
    let t0 = Instant::now();
    let mut m = Advertiser::new(cfg(), t0);
    // The first RA is due at t0: an RS at t0 adds nothing.
    m.handle_input(t0, HOST, &rs());
    assert_eq!(m.poll_timeout(), Some(t0));
    m.handle_timeout(t0);
    assert!(m.poll_transmit().is_some());
    assert!(m.poll_transmit().is_none());
}

#[test]
fn invalid_solicitations_dropped() {
    let t0 = Instant::now();
    let mut m = Advertiser::new(cfg(), t0);
    m.handle_timeout(t0);
    let _ = m.poll_transmit();
    let before = m.poll_timeout();
    // Unspecified source with a Source Link-Layer Address (RFC 4861 §6.1.1).
    m.handle_input(t0 + ms(10), Ipv6Addr::UNSPECIFIED, &rs());
    // Option length 0.
    m.handle_input(t0 + ms(10), HOST, &[0x85, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]);
    // Not an RS.
    m.handle_input(t0 + ms(10), HOST, &[0x86, 0, 0, 0]);
    assert_eq!(m.poll_timeout(), before);
    assert_eq!(m.stats().malformed, 3);
    // Unspecified source without the option is fine.
    m.handle_input(t0 + ms(10), Ipv6Addr::UNSPECIFIED, &RouterSolicitation::default().to_vec());
    assert_eq!(m.stats().rs_received, 1);
}

#[test]
fn prefix_change_deprecates_old_and_announces_new() {
    let t0 = Instant::now();
    let mut t = t0;
    let mut m = Advertiser::new(cfg(), t0);
    m.set_uplink(t0, true);
    m.set_prefixes(t0, vec![prefix("2001:db8:1::", 3600, 86_400)]);
    let ras = run(&mut m, &mut t, t0);
    assert_eq!(prefixes(&ras[0].1), [("2001:db8:1::".parse().unwrap(), 3600, 86_400)]);
    // 100 s later the ISP hands out another prefix.
    let t1 = t0 + Duration::from_secs(100);
    run(&mut m, &mut t, t1 - ms(1));
    t = t1;
    m.set_prefixes(t1, vec![prefix("2001:db8:2::", 3600, 86_400)]);
    let ras = run(&mut m, &mut t, t1);
    assert_eq!(ras.len(), 1, "a change is announced at once");
    let p = prefixes(&ras[0].1);
    assert!(p.contains(&("2001:db8:1::".parse().unwrap(), 0, 7200)), "{p:?}");
    assert!(p.contains(&("2001:db8:2::".parse().unwrap(), 3600, 86_400)), "{p:?}");
    // The old valid lifetime counts down, and the new ones too.
    let t2 = t1 + Duration::from_secs(1000);
    let ra = m.advertisement(t2, 1800);
    let p = prefixes(&ra);
    assert!(p.contains(&("2001:db8:1::".parse().unwrap(), 0, 6200)), "{p:?}");
    assert!(p.contains(&("2001:db8:2::".parse().unwrap(), 2600, 85_400)), "{p:?}");
    // After two hours the old prefix is gone.
    let ras = run(&mut m, &mut t, t1 + Duration::from_secs(7900));
    let last = &ras.last().unwrap().1;
    assert_eq!(prefixes(last).len(), 1);
    assert_eq!(prefixes(last)[0].0, "2001:db8:2::".parse::<Ipv6Addr>().unwrap());
}

#[test]
fn withdrawn_short_lived_prefix_keeps_its_remaining_lifetime() {
    let t0 = Instant::now();
    let mut m = Advertiser::new(cfg(), t0);
    m.set_prefixes(t0, vec![prefix("2001:db8:1::", 300, 600)]);
    m.set_prefixes(t0 + Duration::from_secs(100), vec![]);
    let p = prefixes(&m.advertisement(t0 + Duration::from_secs(100), 0));
    assert_eq!(p, [("2001:db8:1::".parse().unwrap(), 0, 500)]);
    // An infinite prefix, withdrawn, is capped at two hours.
    let inf = PrefixInfo {
        prefix: "2001:db8:3::".parse().unwrap(),
        len: 64,
        preferred: None,
        valid: None,
    };
    m.set_prefixes(t0, vec![inf]);
    assert_eq!(prefixes(&m.advertisement(t0, 0))[1], (inf.prefix, u32::MAX, u32::MAX));
    m.set_prefixes(t0, vec![]);
    assert_eq!(prefixes(&m.advertisement(t0, 0))[1], (inf.prefix, 0, 7200));
    // It comes back: announced afresh.
    m.set_prefixes(t0, vec![inf]);
    assert_eq!(prefixes(&m.advertisement(t0, 0)).len(), 2);
}

#[test]
fn shutdown_sends_final_ra_with_lifetime_zero() {
    let t0 = Instant::now();
    let mut t = t0;
    let mut m = Advertiser::new(cfg(), t0);
    m.set_uplink(t0, true);
    let ras = run(&mut m, &mut t, t0 + Duration::from_secs(1));
    assert_eq!(ras[0].1.router_lifetime, 1800);
    m.shutdown(t0 + Duration::from_secs(2));
    let tx = m.poll_transmit().unwrap();
    assert_eq!(RouterAdvertisement::parse(&tx.bytes).unwrap().router_lifetime, 0);
    assert!(m.poll_transmit().is_none());
    assert_eq!(m.poll_timeout(), None);
    m.handle_input(t0 + Duration::from_secs(3), HOST, &rs());
    m.handle_timeout(t0 + Duration::from_secs(700));
    assert!(m.poll_transmit().is_none());
}

#[test]
fn arbitrary_inputs_never_panic() {
    let t0 = Instant::now();
    let mut m = Advertiser::new(cfg(), t0);
    let mut x: u64 = 1;
    for i in 0..2000u64 {
        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        let bytes: Vec<u8> =
            x.to_be_bytes().iter().cycle().take((x % 40) as usize).copied().collect();
        let now = t0 + Duration::from_millis(i * 997);
        let mut b = bytes;
        if let Some(f) = b.first_mut() {
            *f = 0x85;
        }
        m.handle_input(now, HOST, &b);
        m.handle_timeout(now);
        while m.poll_transmit().is_some() {}
        assert!(m.poll_timeout().is_some_and(|d| d > now));
    }
}

#[test]
fn renewed_lifetimes_wait_for_the_periodic_ra() {
    let t0 = Instant::now();
    let mut t = t0;
    let mut m = Advertiser::new(cfg(), t0);
    m.set_prefixes(t0, vec![prefix("2001:db8:1::", 3600, 7200)]);
    run(&mut m, &mut t, t0 + Duration::from_secs(100));
    let next = m.poll_timeout().unwrap();
    // Same prefix, fresh lifetimes: nothing sent early, the next RA carries them.
    let t1 = t0 + Duration::from_secs(101);
    m.set_prefixes(t1, vec![prefix("2001:db8:1::", 3600, 7200)]);
    assert_eq!(m.poll_timeout(), Some(next));
    assert_eq!(prefixes(&m.advertisement(t1, 0))[0].1, 3600);
}

/// Every file of the fuzz seed corpus through the fuzz properties, on stable.
#[test]
fn fuzz_corpus_does_not_panic() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/ra_input");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        crate::fuzzing::run(&std::fs::read(entry.unwrap().path()).unwrap());
        n += 1;
    }
    assert!(n >= 8, "seed corpus has only {n} files");
    // The seeds mean what their names say.
    let rs = std::fs::read(dir.join("rs_slla")).unwrap();
    assert!(crate::wire::RouterSolicitation::parse(&rs).is_ok());
    let ra = std::fs::read(dir.join("ra_full")).unwrap();
    assert_eq!(crate::wire::RouterAdvertisement::parse(&ra).unwrap().options.len(), 5);
    // Found by the fuzzer: a DNSSL option with padding but no name was accepted, and could
    // not be emitted again. RFC 8106 §5.2 wants one or more names.
    let ra = std::fs::read(dir.join("ra_dnssl_without_names")).unwrap();
    assert!(crate::wire::RouterAdvertisement::parse(&ra).is_err());
}

/// A bounded, seeded mutation run over the corpus (cargo-fuzz needs nightly);
/// `RA_MUTATIONS` raises the count.
#[test]
fn seeded_mutations_of_the_corpus_do_not_panic() {
    let n: usize = std::env::var("RA_MUTATIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(3000);
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/ra_input");
    let seeds: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    let mut rng = crate::rng::Rng::new(0x5eed_0a11);
    let mut next = || rng.next_u64();
    for _ in 0..n {
        let mut data = seeds[(next() % seeds.len() as u64) as usize].clone();
        for _ in 0..(next() % 4 + 1) {
            match next() % 3 {
                0 if !data.is_empty() => {
                    let i = (next() % data.len() as u64) as usize;
                    data[i] = next() as u8;
                }
                1 if !data.is_empty() => data.truncate((next() % data.len() as u64) as usize),
                _ => data.push(next() as u8),
            }
        }
        crate::fuzzing::run(&data);
    }
}
