//! TCP MSS clamping on SYNs crossing the PPPoE link, so that hosts behind the router never
//! send segments larger than the session's MTU (1492 by default) allows. Done in the data
//! path for free (the packet is in cache already), so it happens with or without a firewall.

/// If `pkt` is a TCP SYN (IPv4, or IPv6 with TCP as the first next header) whose MSS option
/// exceeds what `mtu` carries, lowers it and fixes the TCP checksum incrementally (RFC 1624).
/// Returns whether it changed the packet. Anything else is left alone; never panics.
pub fn clamp(pkt: &mut [u8], v6: bool, mtu: u16) -> bool {
    let (tcp_off, max) = if v6 {
        if pkt.len() < 40 || pkt.get(6) != Some(&6) {
            return false;
        }
        (40, mtu.saturating_sub(60))
    } else {
        let Some(&b0) = pkt.first() else { return false };
        let ihl = usize::from(b0 & 0x0f) * 4;
        let frag = be16(pkt, 6).map(|f| f & 0x1fff);
        if ihl < 20 || pkt.get(9) != Some(&6) || frag != Some(0) {
            return false;
        }
        (ihl, mtu.saturating_sub(40))
    };
    let Some(tcp) = pkt.get_mut(tcp_off..) else { return false };
    clamp_tcp(tcp, max)
}

fn clamp_tcp(tcp: &mut [u8], max: u16) -> bool {
    let (Some(&flags), Some(&doff)) = (tcp.get(13), tcp.get(12)) else { return false };
    if flags & 0x02 == 0 {
        return false;
    }
    let end = (usize::from(doff >> 4) * 4).min(tcp.len());
    let mut i = 20;
    while i < end {
        let Some(&kind) = tcp.get(i) else { return false };
        match kind {
            0 => return false,
            1 => i += 1,
            _ => {
                let Some(&len) = tcp.get(i + 1) else { return false };
                if len < 2 {
                    return false;
                }
                if kind == 2 && len == 4 {
                    return rewrite(tcp, i + 2, max);
                }
                i += usize::from(len);
            }
        }
    }
    false
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    let v: [u8; 2] = b.get(at..at.checked_add(2)?)?.try_into().ok()?;
    Some(u16::from_be_bytes(v))
}

fn rewrite(tcp: &mut [u8], at: usize, max: u16) -> bool {
    let Some(old) = be16(tcp, at) else { return false };
    if old <= max {
        return false;
    }
    let Some(csum) = be16(tcp, 16) else { return false };
    // The checksum sums 16-bit words from the header's start: a value at an odd offset
    // straddles two words, which ones' complement arithmetic sees byte-swapped.
    let (o, n) = if at % 2 == 1 { (old.swap_bytes(), max.swap_bytes()) } else { (old, max) };
    let mut sum = u32::from(!csum) + u32::from(!o) + u32::from(n);
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    let new_csum = !(sum as u16);
    if let Some(v) = tcp.get_mut(at..at + 2) {
        v.copy_from_slice(&max.to_be_bytes());
    }
    if let Some(c) = tcp.get_mut(16..18) {
        c.copy_from_slice(&new_csum.to_be_bytes());
    }
    true
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

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
}
