//! A hostile host on the PPPoE segment (root): while a TCP transfer runs through an
//! established session (our client against ispemu, KPN's VLAN 6), frames forged from the
//! AC's MAC address and session id are injected onto the wire with a raw socket: a 4-byte
//! LCP Code-Reject, a Code-Reject of a Configure-Request we never sent, an IPCP
//! Protocol-Reject, and a CHAP Challenge after PAP. The session id and the address stay, the
//! client reports no Down, no CHAP Response leaves, and the transfer never stalls (every
//! iperf3 interval moved data).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::time::Duration;

use netlab::Netns;
use pppoe::driver::client;
use pppoe::wire::{SessionKey, Vlan, proto, session::session_frame};
use router_tests::bench::iperf3_server;
use router_tests::wan::{Isp, Wan, kpn_credentials};
use router_tests::{Tcpdump, TempDir, lab};

/// Sends raw Ethernet frames out of `ifname` in `ns` (AF_PACKET).
fn inject(ns: &Netns, ifname: &'static str, frames: Vec<Vec<u8>>) {
    ns.run(move |nc| async move {
        let index = nc.link_by_name(ifname).await.unwrap().index;
        // SAFETY: plain socket calls on values we own; the address is a valid sockaddr_ll.
        unsafe {
            let fd = libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0);
            assert!(fd >= 0, "{}", std::io::Error::last_os_error());
            for f in frames {
                let mut sll: libc::sockaddr_ll = std::mem::zeroed();
                sll.sll_family = libc::AF_PACKET as u16;
                sll.sll_ifindex = index as i32;
                sll.sll_halen = 6;
                sll.sll_addr[..6].copy_from_slice(&f[..6]);
                let n = libc::sendto(
                    fd,
                    f.as_ptr().cast(),
                    f.len(),
                    0,
                    (&sll as *const libc::sockaddr_ll).cast(),
                    std::mem::size_of::<libc::sockaddr_ll>() as u32,
                );
                assert_eq!(n, f.len() as isize, "{}", std::io::Error::last_os_error());
            }
            libc::close(fd);
        }
    })
    .unwrap();
}

fn mac(ns: &Netns, ifname: &'static str) -> [u8; 6] {
    ns.netcfg(move |nc| async move { Ok(nc.link_by_name(ifname).await?.mac.unwrap()) }).unwrap()
}

#[test]
fn root_pppoe_forged_frames_during_a_transfer_drop_nothing() {
    let lab = lab("hostile");
    let (router, isp_ns, inet) =
        (lab.netns("r").unwrap(), lab.netns("isp").unwrap(), lab.netns("inet").unwrap());
    lab.connect(&router, "eth0", &isp_ns, "eth0").unwrap();
    let _internet = router_tests::wan::internet(&lab, &isp_ns, &inet);
    let dir = TempDir::new("pppoe-hostile");
    let isp = Isp::start(&isp_ns, dir.path(), "vlan = 6\n");
    let mut cfg = client::Config::new("eth0", Some(kpn_credentials()));
    cfg.vlan = Some(6);
    let (stats_tx, stats) = tokio::sync::watch::channel(pppoe::Stats::default());
    cfg.stats = Some(stats_tx);
    let mut wan = Wan::start(&router, cfg);
    let link = wan.up(Duration::from_secs(15));
    let ipv4 = link.ipv4.clone().expect("IPCP").local;
    let sessions = isp.ctl("sessions");
    assert_eq!(sessions.matches("session_id").count(), 1, "{sessions}");

    // The AC's frames as a hostile host on the segment forges them.
    let key = SessionKey {
        local: mac(&isp_ns, "eth0"),
        peer: mac(&router, "eth0"),
        vlan: Some(Vlan::id(6)),
        session_id: link.session_id,
    };
    assert_eq!(key.local, link.peer_mac, "the AC's MAC as the client knows it");
    let chap =
        pppoe::wire::ChapPacket::Challenge { id: 9, value: vec![0x5a; 16], name: b"ac".to_vec() };
    let forged: Vec<Vec<u8>> = [
        (proto::LCP, vec![0x07, 0x42, 0x00, 0x04]),
        (proto::LCP, vec![0x07, 0x43, 0x00, 0x08, 0x01, 0x99, 0x00, 0x04]),
        (proto::LCP, vec![0x08, 0x44, 0x00, 0x0a, 0x80, 0x21, 0x01, 0x01, 0x00, 0x04]),
        (proto::CHAP, chap.to_vec().unwrap()),
    ]
    .into_iter()
    .map(|(p, payload)| session_frame(&key, p, &payload).unwrap())
    .collect();

    // What the client sends while it happens: no CHAP Response may leave.
    let capture = Tcpdump::start(&router, "eth0", "", &dir.join("eth0.pcap"));
    let _srv = iperf3_server(&inet, "203.0.113.10");
    let client = {
        let router = router.clone();
        std::thread::spawn(move || {
            router
                .command("iperf3")
                .args([
                    "-c",
                    "203.0.113.10",
                    "-t",
                    "6",
                    "-i",
                    "0.5",
                    "-J",
                    "--connect-timeout",
                    "3000",
                ])
                .output()
                .unwrap()
        })
    };
    for _ in 0..4 {
        std::thread::sleep(Duration::from_millis(1000));
        inject(&isp_ns, "eth0", forged.clone());
    }
    let out = client.join().unwrap();
    capture.stop();
    let frames = pcap_frames(&dir.join("eth0.pcap"));

    // The transfer completed without a stall.
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let intervals = v["intervals"].as_array().cloned().unwrap_or_default();
    assert!(intervals.len() >= 10, "iperf3: {}", String::from_utf8_lossy(&out.stdout));
    let stalled: Vec<f64> = intervals
        .iter()
        .map(|i| i["sum"]["bytes"].as_f64().unwrap_or(0.0))
        .filter(|b| *b == 0.0)
        .collect();
    assert!(stalled.is_empty(), "intervals without data: {} of {}", stalled.len(), intervals.len());
    let gbits = v.pointer("/end/sum_received/bits_per_second").and_then(|b| b.as_f64()).unwrap();
    println!(
        "pppoe hostile: 16 forged frames during 6 s of TCP, {:.2} Gbit/s, {} intervals all moving",
        gbits / 1e9,
        intervals.len()
    );

    // Same session, same address, no Down, nothing answered.
    assert!(wan.next(Duration::from_millis(200)).is_none(), "the client reported a change");
    let sessions = isp.ctl("sessions");
    assert_eq!(sessions.matches("session_id").count(), 1, "{sessions}");
    assert!(sessions.contains(&format!("\"session_id\":{}", link.session_id)), "{sessions}");
    let addr = router.command("ip").args(["-4", "addr", "show", "dev", "ppp0"]).output().unwrap();
    assert!(
        String::from_utf8_lossy(&addr.stdout).contains(&format!("inet {ipv4}")),
        "address kept"
    );
    let chap_out = frames.iter().filter(|f| {
        f.get(..6) == Some(&key.local[..])
            && f.get(16..18) == Some(&[0x88, 0x64][..])
            && f.get(24..26) == Some(&proto::CHAP.to_be_bytes()[..])
    });
    assert_eq!(chap_out.count(), 0, "a CHAP Response went out after PAP");
    // They did reach the client, and were counted as what they are.
    let st = *stats.borrow();
    assert!(st.ignored_rejects >= 12 && st.ignored_challenges >= 4, "{st:?}");
    drop(wan.stop());
}

/// The frames of a classic pcap file (what tcpdump -w writes).
fn pcap_frames(path: &std::path::Path) -> Vec<Vec<u8>> {
    let d = std::fs::read(path).unwrap();
    let mut out = Vec::new();
    let mut off = 24;
    while off + 16 <= d.len() {
        let incl = u32::from_le_bytes(d[off + 8..off + 12].try_into().unwrap()) as usize;
        off += 16;
        out.push(d[off..(off + incl).min(d.len())].to_vec());
        off += incl;
    }
    out
}
