//! The DHCPv4 wire: a checked parse in front of dhcproto's v4 decoder, and emit.
//!
//! No-panic guarantee: [`parse`] checks the fixed header, `hlen` and every option's length
//! before dhcproto sees the bytes, so the decoder's panics (below) cannot be reached, and
//! never indexes out of range itself. Found in dhcproto 0.15's v4 code:
//!
//! - `Message::chaddr()` slices `chaddr[..hlen]`: it panics when `hlen > 16`.
//! - Rapid Commit (80) `debug_assert!(len == 0)`; Client Network Interface (94)
//!   `debug_assert!(len == 3)`; the bulk lease query times (152–155) `debug_assert!(len == 4)`:
//!   panics in debug builds (and so under `cargo test` and fuzzing).
//! - Client FQDN (81) computes `len - 3` and BLQ status code (151) `len - 1`: overflow panics
//!   with overflow checks on.
//! - Adjacent options with the same code are concatenated first (RFC 3396), so the checks
//!   apply to the concatenated length, as here.
//! - `DhcpOptions::decode` stops silently at the first option it cannot decode (a host name
//!   that is not UTF-8, say): the options after it are lost, not reported.

use dhcproto::v4::{Message, MessageType};
use dhcproto::{Decodable, Decoder, Encodable};

/// Length of the fixed BOOTP header (RFC 2131 §2, Figure 1) up to the options.
pub const HEADER_LEN: usize = 236;

/// The magic cookie that starts the options (RFC 2131 §3).
pub const MAGIC: [u8; 4] = [0x63, 0x82, 0x53, 0x63];

/// Minimum BOOTP message size (RFC 1542 §2.1: relays may drop shorter ones); replies are
/// zero-padded after End up to it.
pub const MIN_REPLY_LEN: usize = 300;

/// BOOTP `op` of a client message (RFC 951).
pub const BOOTREQUEST: u8 = 1;

/// BOOTP `op` of a server message (RFC 951).
pub const BOOTREPLY: u8 = 2;

/// Why a datagram was not accepted. Small and `Copy`; carries the offending value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Shorter than the header and the magic cookie.
    #[error("truncated: {0} bytes")]
    Truncated(usize),
    /// `op` is not BOOTREQUEST (1).
    #[error("op {0} is not BOOTREQUEST")]
    NotRequest(u8),
    /// `op` is not BOOTREPLY (2) where a reply was expected (the client side).
    #[error("op {0} is not BOOTREPLY")]
    NotReply(u8),
    /// The magic cookie is wrong.
    #[error("bad magic cookie")]
    BadMagic,
    /// `hlen` above 16.
    #[error("hlen {0} > 16")]
    BadHlen(u8),
    /// An option runs past the end, or has a length its code does not allow.
    #[error("option {code} at offset {offset}: bad length")]
    BadOption {
        /// Option code.
        code: u8,
        /// Offset of the option in the datagram.
        offset: usize,
    },
    /// dhcproto refused the message.
    #[error("undecodable message")]
    Decode,
    /// No DHCP Message Type (53): BOOTP, which we do not serve.
    #[error("no message type (BOOTP)")]
    NoMessageType,
}

/// A checked DHCP request: the decoded message and its type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The decoded message; `chaddr()` is safe to call (hlen ≤ 16 was checked).
    pub msg: Message,
    /// Option 53.
    pub kind: MessageType,
}

/// Parses a datagram sent to the server port.
pub fn parse(bytes: &[u8]) -> Result<Request, Error> {
    let msg = decode_checked(bytes, BOOTREQUEST)?;
    let kind = msg.opts().msg_type().ok_or(Error::NoMessageType)?;
    Ok(Request { msg, kind })
}

/// The checked decode both ends use (the server for requests, the client for replies): the
/// header, `op` (which must be `op`), `hlen`, the magic cookie and every option length are
/// checked, then dhcproto decodes. The message type is not required here.
pub fn decode_checked(bytes: &[u8], op: u8) -> Result<Message, Error> {
    let (header, rest) = bytes.split_at_checked(HEADER_LEN).ok_or(Error::Truncated(bytes.len()))?;
    let (magic, options) = rest.split_at_checked(4).ok_or(Error::Truncated(bytes.len()))?;
    let got = header.first().copied().unwrap_or(0);
    match header.get(2) {
        _ if got != op && op == BOOTREQUEST => return Err(Error::NotRequest(got)),
        _ if got != op => return Err(Error::NotReply(got)),
        Some(&hlen) if hlen > 16 => return Err(Error::BadHlen(hlen)),
        _ => {}
    }
    if magic != MAGIC {
        return Err(Error::BadMagic);
    }
    check_options(options, HEADER_LEN + 4)?;
    Message::decode(&mut Decoder::new(bytes)).map_err(|_| Error::Decode)
}

/// Walks the option TLVs as dhcproto will (adjacent same-code options concatenated) and
/// rejects the lengths that would make it panic. `base` is the offset of `opts`.
fn check_options(opts: &[u8], base: usize) -> Result<(), Error> {
    let mut at = 0;
    // (code, offset, concatenated length) of the run being read.
    let mut run: Option<(u8, usize, usize)> = None;
    let mut message_types = 0;
    while let Some(&code) = opts.get(at) {
        if code == 0x00 || code == 0xff {
            if let Some(r) = run.take() {
                check_length(r)?;
            }
            if code == 0xff {
                return Ok(());
            }
            at += 1;
            continue;
        }
        let offset = base + at;
        // One DHCP Message Type (53): a second one, even apart from the first, makes the
        // message ambiguous (which one wins depends on the decoder): refused, not guessed.
        if code == 0x35 && run.is_none_or(|(c, ..)| c != code) {
            message_types += 1;
            if message_types > 1 {
                return Err(Error::BadOption { code, offset });
            }
        }
        let len = usize::from(*opts.get(at + 1).ok_or(Error::BadOption { code, offset })?);
        if opts.len() < at + 2 + len {
            return Err(Error::BadOption { code, offset });
        }
        run = match run {
            Some((c, o, l)) if c == code => Some((c, o, l + len)),
            Some(r) => {
                check_length(r)?;
                Some((code, offset, len))
            }
            None => Some((code, offset, len)),
        };
        at += 2 + len;
    }
    run.map_or(Ok(()), check_length)
}

fn check_length((code, offset, len): (u8, usize, usize)) -> Result<(), Error> {
    let ok = match code {
        0x35 => len == 1,        // DHCP Message Type (RFC 2132 §9.6)
        0x3d => len >= 2,        // Client Identifier: "minimum length is 2" (RFC 2132 §9.14)
        0x50 => len == 0,        // Rapid Commit
        0x51 => len >= 3,        // Client FQDN: flags, rcode1, rcode2, name
        0x5e => len == 3,        // Client Network Interface
        0x97 => len >= 1,        // BLQ status code
        0x98..=0x9b => len == 4, // BLQ times
        _ => true,
    };
    if ok { Ok(()) } else { Err(Error::BadOption { code, offset }) }
}

/// Encodes a reply, zero-padded to [`MIN_REPLY_LEN`].
pub fn emit(msg: &Message) -> Option<Vec<u8>> {
    let mut out = msg.to_vec().ok()?;
    if out.len() < MIN_REPLY_LEN {
        out.resize(MIN_REPLY_LEN, 0);
    }
    Some(out)
}
