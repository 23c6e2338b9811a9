//! Just enough IPv4 (RFC 791 §3.1), IPv6 (RFC 8200 §3) and TCP (RFC 9293 §3.1) for the data
//! path, which sees every packet from the internet: the destination address that routes a
//! packet into a session ([`dst_addr`]), and the MSS option of a SYN, which
//! [`crate::mss::clamp`] lowers.
//!
//! Fields are named byte ranges (`mod field`, as in smoltcp). Each header is checked once, by
//! its `header` or `split_mut`: the fixed part comes back as an array, so reading a field of it
//! cannot fail, and what follows is cut to the length fields the header carries.

use std::net::IpAddr;

/// IPv4 Protocol / IPv6 Next Header number of TCP (IANA "Assigned Internet Protocol Numbers").
pub(crate) const PROTOCOL_TCP: u8 = 0x06;

/// The destination address of an IPv4 or IPv6 packet, by its version; `None` when the fixed
/// header is not all there. Nothing else of the header is checked: this only picks a session.
pub(crate) fn dst_addr(pkt: &[u8]) -> Option<IpAddr> {
    match (ipv4::header(pkt), ipv6::header(pkt)) {
        (Some(h), _) => Some(IpAddr::V4(ipv4::dst_addr(h))),
        (None, Some(h)) => Some(IpAddr::V6(ipv6::dst_addr(h))),
        (None, None) => None,
    }
}

/// The IPv4 header.
pub(crate) mod ipv4 {
    use std::net::Ipv4Addr;

    use crate::wire::array;

    /// Field ranges (RFC 791 §3.1).
    pub(crate) mod field {
        use crate::wire::Field;

        /// Version (high 4 bits) and IHL, the header length in 32-bit words (low 4 bits).
        pub(crate) const VER_IHL: usize = 0;
        /// Total Length of the datagram, header included.
        pub(crate) const LENGTH: Field = 2..4;
        /// Flags (high 3 bits) and Fragment Offset (low 13 bits).
        pub(crate) const FLG_OFF: Field = 6..8;
        /// Protocol of the payload.
        pub(crate) const PROTOCOL: usize = 9;
        /// Source Address.
        pub(crate) const SRC_ADDR: Field = 12..16;
        /// Destination Address.
        pub(crate) const DST_ADDR: Field = 16..20;
    }

    /// Length of the header without options.
    pub(crate) const HEADER_LEN: usize = field::DST_ADDR.end;
    const VERSION: u8 = 4;
    const FRAGMENT_OFFSET: u16 = 0x1fff;

    /// The fixed header of an IPv4 packet: version 4 and 20 bytes there.
    pub(crate) fn header(pkt: &[u8]) -> Option<&[u8; HEADER_LEN]> {
        pkt.first_chunk().filter(|h: &&[u8; HEADER_LEN]| h[field::VER_IHL] >> 4 == VERSION)
    }

    /// The fixed header and the payload: after the options (IHL), up to Total Length. `None`
    /// unless version 4 and 20 <= IHL <= Total Length <= the packet's length.
    pub(crate) fn split_mut(pkt: &mut [u8]) -> Option<(&[u8; HEADER_LEN], &mut [u8])> {
        let (h, rest) = pkt.split_first_chunk_mut::<HEADER_LEN>()?;
        if h[field::VER_IHL] >> 4 != VERSION {
            return None;
        }
        let ihl = usize::from(h[field::VER_IHL] & 0x0f) * 4;
        let total = usize::from(u16::from_be_bytes(array(&h[field::LENGTH])));
        let payload = rest.get_mut(ihl.checked_sub(HEADER_LEN)?..total.checked_sub(HEADER_LEN)?)?;
        Some((h, payload))
    }

    /// Whether the packet starts its datagram (Fragment Offset 0): only that one carries the
    /// TCP header.
    pub(crate) fn is_first_fragment(h: &[u8; HEADER_LEN]) -> bool {
        u16::from_be_bytes(array(&h[field::FLG_OFF])) & FRAGMENT_OFFSET == 0
    }

    /// Source Address.
    pub(crate) fn src_addr(h: &[u8; HEADER_LEN]) -> Ipv4Addr {
        Ipv4Addr::from(array::<4>(&h[field::SRC_ADDR]))
    }

    /// Destination Address.
    pub(crate) fn dst_addr(h: &[u8; HEADER_LEN]) -> Ipv4Addr {
        Ipv4Addr::from(array::<4>(&h[field::DST_ADDR]))
    }
}

/// The IPv6 fixed header.
pub(crate) mod ipv6 {
    use std::net::Ipv6Addr;

    use crate::wire::array;

    /// Field ranges (RFC 8200 §3).
    pub(crate) mod field {
        use crate::wire::Field;

        /// Version (high 4 bits of the first byte), Traffic Class, Flow Label.
        pub(crate) const VER_TC_FLOW: Field = 0..4;
        /// Payload Length: the bytes after this header, extension headers included.
        pub(crate) const PAYLOAD_LEN: Field = 4..6;
        /// Next Header: the type of the header after this one.
        pub(crate) const NEXT_HEADER: usize = 6;
        /// Source Address.
        pub(crate) const SRC_ADDR: Field = 8..24;
        /// Destination Address.
        pub(crate) const DST_ADDR: Field = 24..40;
    }

    /// Length of the fixed header.
    pub(crate) const HEADER_LEN: usize = field::DST_ADDR.end;
    const VERSION: u8 = 6;

    /// The fixed header of an IPv6 packet: version 6 and 40 bytes there.
    pub(crate) fn header(pkt: &[u8]) -> Option<&[u8; HEADER_LEN]> {
        pkt.first_chunk()
            .filter(|h: &&[u8; HEADER_LEN]| h[field::VER_TC_FLOW.start] >> 4 == VERSION)
    }

    /// The fixed header and the payload, cut to Payload Length. `None` unless version 6 and
    /// Payload Length <= what follows the header. (A jumbogram, RFC 2675, has Payload Length 0
    /// and so an empty payload here.)
    pub(crate) fn split_mut(pkt: &mut [u8]) -> Option<(&[u8; HEADER_LEN], &mut [u8])> {
        let (h, rest) = pkt.split_first_chunk_mut::<HEADER_LEN>()?;
        if h[field::VER_TC_FLOW.start] >> 4 != VERSION {
            return None;
        }
        let len = usize::from(u16::from_be_bytes(array(&h[field::PAYLOAD_LEN])));
        Some((h, rest.get_mut(..len)?))
    }

    /// Source Address.
    pub(crate) fn src_addr(h: &[u8; HEADER_LEN]) -> Ipv6Addr {
        Ipv6Addr::from(array::<16>(&h[field::SRC_ADDR]))
    }

    /// Destination Address.
    pub(crate) fn dst_addr(h: &[u8; HEADER_LEN]) -> Ipv6Addr {
        Ipv6Addr::from(array::<16>(&h[field::DST_ADDR]))
    }
}

/// The TCP header.
pub(crate) mod tcp {
    /// Field ranges (RFC 9293 §3.1) of what the data path reads; the ports, sequence numbers,
    /// window and urgent pointer are not.
    pub(crate) mod field {
        use crate::wire::{Field, Rest};

        /// Data Offset, the header length in 32-bit words (high 4 bits).
        pub(crate) const DATA_OFF: usize = 12;
        /// Control bits: CWR, ECE, URG, ACK, PSH, RST, SYN, FIN.
        pub(crate) const FLAGS: usize = 13;
        /// Checksum, over a pseudo-header and the whole segment.
        pub(crate) const CHECKSUM: Field = 16..18;
        /// Options, up to Data Offset.
        pub(crate) const OPTIONS: Rest = 20..;
    }

    /// Length of the header without options.
    pub(crate) const HEADER_LEN: usize = field::OPTIONS.start;
    /// The SYN control bit.
    pub(crate) const FLAG_SYN: u8 = 0x02;

    /// Option kinds (RFC 9293 §3.2).
    pub(crate) mod option {
        /// End of Option List.
        pub(crate) const END: u8 = 0x00;
        /// No-Operation.
        pub(crate) const NOP: u8 = 0x01;
        /// Maximum Segment Size.
        pub(crate) const MSS: u8 = 0x02;
        /// Length of the MSS option: kind, length and a 16-bit value.
        pub(crate) const MSS_LEN: usize = 4;
    }

    /// The fixed header and the options of a segment. `None` unless 20 <= Data Offset <= the
    /// segment's length.
    pub(crate) fn split_mut(seg: &mut [u8]) -> Option<(&mut [u8; HEADER_LEN], &mut [u8])> {
        let (h, rest) = seg.split_first_chunk_mut::<HEADER_LEN>()?;
        let len = usize::from(h[field::DATA_OFF] >> 4) * 4;
        let options = rest.get_mut(..len.checked_sub(HEADER_LEN)?)?;
        Some((h, options))
    }

    /// Where in `options` the MSS option's value starts, if there is one before End of Option
    /// List (RFC 9293 §3.2: kind 2, length 4). Every option before it must fit in `options`;
    /// one with a length under 2 ends the search.
    pub(crate) fn mss_at(options: &[u8]) -> Option<usize> {
        let mut i = 0;
        loop {
            match *options.get(i)? {
                option::END => return None,
                option::NOP => i += 1,
                kind => {
                    let len = usize::from(*options.get(i + 1)?);
                    if len < 2 || options.len() < i + len {
                        return None;
                    }
                    if kind == option::MSS && len == option::MSS_LEN {
                        return Some(i + 2);
                    }
                    i += len;
                }
            }
        }
    }
}
