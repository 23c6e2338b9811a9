//! TCP MSS clamping on SYNs crossing the PPPoE link, so that hosts behind the router never
//! send segments larger than the session's MTU (1492 by default) allows. Done in the data
//! path for free (the packet is in cache already), so it happens with or without a firewall.

use crate::wire::array;
use crate::wire::ip::{PROTOCOL_TCP, ipv4, ipv6, tcp};

/// What the IPv4 and TCP headers (without options) take of the MTU; the MSS is the rest (RFC
/// 8200 §8.3: "in IPv4, TCP's MSS option is computed as the maximum packet size ... minus 40
/// octets").
const IPV4_OVERHEAD: u16 = (ipv4::HEADER_LEN + tcp::HEADER_LEN) as u16;
/// The same over IPv6 (RFC 8200 §8.3: "the MSS must be computed as the maximum packet size
/// minus 60 octets").
const IPV6_OVERHEAD: u16 = (ipv6::HEADER_LEN + tcp::HEADER_LEN) as u16;

/// If `pkt` is a TCP SYN (IPv4, or IPv6 with TCP as the first next header) whose MSS option
/// exceeds what `mtu` carries, lowers it and fixes the TCP checksum incrementally (RFC 1624).
/// Returns whether it changed the packet; when it did, only the MSS value and the checksum
/// differ. Anything else (and anything whose lengths do not add up) is left alone; never
/// panics.
pub(crate) fn clamp(pkt: &mut [u8], v6: bool, mtu: u16) -> bool {
    let overhead = if v6 { IPV6_OVERHEAD } else { IPV4_OVERHEAD };
    tcp_segment(pkt, v6).is_some_and(|seg| clamp_segment(seg, mtu.saturating_sub(overhead)))
}

/// The TCP segment of an unfragmented (or first-fragment) packet.
fn tcp_segment(pkt: &mut [u8], v6: bool) -> Option<&mut [u8]> {
    if v6 {
        let (h, payload) = ipv6::split_mut(pkt)?;
        (h[ipv6::field::NEXT_HEADER] == PROTOCOL_TCP).then_some(payload)
    } else {
        let (h, payload) = ipv4::split_mut(pkt)?;
        let tcp = h[ipv4::field::PROTOCOL] == PROTOCOL_TCP && ipv4::is_first_fragment(h);
        tcp.then_some(payload)
    }
}

fn clamp_segment(seg: &mut [u8], max: u16) -> bool {
    let Some((h, options)) = tcp::split_mut(seg) else { return false };
    if h[tcp::field::FLAGS] & tcp::FLAG_SYN == 0 {
        return false;
    }
    let Some(at) = tcp::mss_at(options) else { return false };
    let Some(value) = options.get_mut(at..at + 2) else { return false };
    let old = u16::from_be_bytes(array(value));
    if old <= max {
        return false;
    }
    value.copy_from_slice(&max.to_be_bytes());
    let checksum = &mut h[tcp::field::CHECKSUM];
    // The options start at an even offset, so `at` has the parity of the value's offset in
    // the segment.
    let new = checksum_update(u16::from_be_bytes(array(checksum)), old, max, at % 2 == 1);
    checksum.copy_from_slice(&new.to_be_bytes());
    true
}

/// RFC 1624 eqn. 3, `HC' = ~(~HC + ~m + m')`: the checksum `hc` after a 16-bit value `m`
/// became `m_new`. A value at an odd offset straddles two of the words the checksum sums, which
/// ones' complement arithmetic sees as the value byte-swapped.
fn checksum_update(hc: u16, m: u16, m_new: u16, odd: bool) -> u16 {
    let (m, m_new) = if odd { (m.swap_bytes(), m_new.swap_bytes()) } else { (m, m_new) };
    let mut sum = u32::from(!hc) + u32::from(!m) + u32::from(m_new);
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    !(sum as u16)
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::fuzzing;

    fn sum(data: &[u8], mut acc: u32) -> u32 {
        for ch in data.chunks(2) {
            acc += u32::from(u16::from_be_bytes([ch[0], *ch.get(1).unwrap_or(&0)]));
        }
        acc
    }

    fn tcp_checksum_v4(pkt: &[u8]) -> u16 {
        let tcp = &pkt[20..];
        let mut acc = sum(&pkt[12..20], 0) + 6 + tcp.len() as u32;
        acc = sum(tcp, acc);
        while acc > 0xffff {
            acc = (acc & 0xffff) + (acc >> 16);
        }
        !(acc as u16)
    }

    /// An IPv4 TCP SYN, 10.0.0.1:40000 -> 10.0.0.2:80, options `opts`, checksum correct.
    fn syn_v4(opts: &[u8]) -> Vec<u8> {
        let tcp_len = 20 + opts.len();
        let mut p = vec![0u8; 20 + tcp_len];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&((20 + tcp_len) as u16).to_be_bytes());
        p[8] = 64;
        p[9] = 6;
        p[12..16].copy_from_slice(&[10, 0, 0, 1]);
        p[16..20].copy_from_slice(&[10, 0, 0, 2]);
        let t = &mut p[20..];
        t[0..2].copy_from_slice(&40000u16.to_be_bytes());
        t[2..4].copy_from_slice(&80u16.to_be_bytes());
        t[12] = ((tcp_len / 4) as u8) << 4;
        t[13] = 0x02;
        t[20..].copy_from_slice(opts);
        let c = tcp_checksum_v4(&p);
        p[36..38].copy_from_slice(&c.to_be_bytes());
        p
    }

    #[test]
    fn clamps_mss_and_keeps_checksum_valid() {
        let mut p = syn_v4(&[2, 4, 0x05, 0xb4]); // MSS 1460
        assert!(clamp(&mut p, false, 1492));
        assert_eq!(u16::from_be_bytes([p[42], p[43]]), 1452);
        assert_eq!(
            tcp_checksum_v4(&{
                let mut q = p.clone();
                q[36..38].copy_from_slice(&[0, 0]);
                q
            }),
            u16::from_be_bytes([p[36], p[37]])
        );
    }

    #[test]
    fn odd_offset_mss_after_one_nop() {
        // NOP, MSS, then padding: the MSS value starts at an odd offset.
        let mut p = syn_v4(&[1, 2, 4, 0x05, 0xb4, 1, 1, 1]);
        assert!(clamp(&mut p, false, 1492));
        assert_eq!(u16::from_be_bytes([p[43], p[44]]), 1452);
        let mut q = p.clone();
        q[36..38].copy_from_slice(&[0, 0]);
        assert_eq!(tcp_checksum_v4(&q), u16::from_be_bytes([p[36], p[37]]));
    }

    #[test]
    fn leaves_small_mss_non_syn_and_garbage_alone() {
        let mut p = syn_v4(&[2, 4, 0x05, 0x00]); // 1280 already fits
        assert!(!clamp(&mut p, false, 1492));
        let mut q = syn_v4(&[2, 4, 0x05, 0xb4]);
        q[33] = 0x10; // ACK only
        assert!(!clamp(&mut q, false, 1492));
        for n in 0..q.len() {
            let mut t = q[..n].to_vec();
            let _ = clamp(&mut t, false, 1492);
            let _ = clamp(&mut t, true, 1492);
        }
        let mut bad = syn_v4(&[2, 1, 0, 0]); // option length < 2
        assert!(!clamp(&mut bad, false, 1492));
    }

    /// The captured packet `name`, its checksum checked, clamped for `mtu`: the MSS it then
    /// carries, after checking that only the MSS value and the checksum changed and that the
    /// checksum is still right.
    fn clamp_captured(name: &str, v6: bool, mtu: u16) -> (bool, u16) {
        let before = crate::tests::testdata(name);
        assert_eq!(fuzzing::tcp_checksum_ok(&before, v6), Some(true), "{name} as captured");
        let mut p = before.clone();
        let changed = clamp(&mut p, v6, mtu);
        assert_eq!(fuzzing::tcp_checksum_ok(&p, v6), Some(true), "{name} clamped");
        // Linux puts the MSS option first: its value is 2 bytes into the options.
        let tcp = if v6 { 40 } else { 20 };
        let (mss, csum) = (tcp + 22, tcp + 16);
        let diff: Vec<usize> = (0..p.len()).filter(|&i| p[i] != before[i]).collect();
        assert!(diff.iter().all(|&i| [mss, mss + 1, csum, csum + 1].contains(&i)), "{diff:?}");
        assert_eq!(changed, !diff.is_empty());
        (changed, u16::from_be_bytes([p[mss], p[mss + 1]]))
    }

    #[test]
    fn captured_linux_syns_are_clamped_to_the_session_mtu() {
        // PPPoE's 1492: 1452 over IPv4, 1432 over IPv6.
        assert_eq!(clamp_captured("tcp_syn_v4_mss1460", false, 1492), (true, 1452));
        assert_eq!(clamp_captured("tcp_synack_v4_mss1460", false, 1492), (true, 1452));
        assert_eq!(clamp_captured("tcp_syn_v6_mss1460", true, 1492), (true, 1432));
        assert_eq!(clamp_captured("tcp_syn_v6_mss1440", true, 1492), (true, 1432));
        // RFC 4638's 1500 leaves a 1500-byte Ethernet's MSS alone.
        assert_eq!(clamp_captured("tcp_syn_v4_mss1460", false, 1500), (false, 1460));
        assert_eq!(clamp_captured("tcp_syn_v6_mss1440", true, 1500), (false, 1440));
    }

    #[test]
    fn captured_segments_after_the_handshake_are_left_alone() {
        for (name, v6) in [("tcp_psh_ack_v4", false), ("tcp_psh_ack_v6", true)] {
            let before = crate::tests::testdata(name);
            let mut p = before.clone();
            assert!(!clamp(&mut p, v6, 576));
            assert_eq!(p, before);
        }
    }

    #[test]
    fn syn_with_lengths_that_do_not_add_up_is_left_alone() {
        let syn = crate::tests::testdata("tcp_syn_v4_mss1460");
        let syn6 = crate::tests::testdata("tcp_syn_v6_mss1460");
        let mut bad: Vec<(Vec<u8>, bool)> = Vec::new();
        let mut long = syn.clone();
        long[2..4].copy_from_slice(&61u16.to_be_bytes()); // Total Length past the packet
        bad.push((long, false));
        let mut ihl = syn.clone();
        ihl[0] = 0x44; // IHL 16 bytes
        bad.push((ihl, false));
        let mut version = syn.clone();
        version[0] = 0x65;
        bad.push((version, false));
        let mut fragment = syn.clone();
        fragment[6..8].copy_from_slice(&0x0001u16.to_be_bytes()); // Fragment Offset 8
        bad.push((fragment, false));
        let mut doff = syn.clone();
        doff[32] = 0xf0; // Data Offset 60 bytes, past the segment
        bad.push((doff, false));
        let mut plen = syn6.clone();
        plen[4..6].copy_from_slice(&41u16.to_be_bytes()); // Payload Length past the packet
        bad.push((plen, true));
        let mut next = syn6.clone();
        next[6] = 0; // a Hop-by-Hop header first
        bad.push((next, true));
        for (i, (p, v6)) in bad.into_iter().enumerate() {
            let mut q = p.clone();
            assert!(!clamp(&mut q, v6, 1492), "case {i}");
            assert_eq!(q, p, "case {i}");
        }
    }
}
