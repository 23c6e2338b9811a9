//! DHCPv6 wire format: a checked parse in front of `dhcproto`'s v6 types, and the emit path.
//!
//! # No-panic guarantee
//!
//! [`Repr::parse`] never panics, whatever the input. `dhcproto` 0.15 does not give that
//! guarantee on its own (its decoder subtracts from option lengths without checking, e.g.
//! Status Code with length 0, Vendor Class shorter than 4, Authentication shorter than 11, and
//! it reads fixed-size options such as Preference without looking at their length field), so
//! every option is checked here first: the header, then each TLV's length against what is
//! left, then each option's length against the RFC 8415 §21 format, recursively into the
//! options that encapsulate others, with a depth limit. Only options that passed are handed
//! to `dhcproto`, one at a time, so its decoder cannot stop early and drop options silently.
//! Options this crate never reads are kept byte-exactly as `DhcpOption::Unknown`.
//!
//! # Emit
//!
//! `dhcproto` encodes the Domain Search List (option 24) with DNS name compression, which
//! RFC 8415 §10 forbids ("domain names ... MUST NOT be stored in compressed form"), so
//! [`domain_list_option`] encodes that option by hand. Messages are built as a [`Repr`]
//! rather than `dhcproto::v6::Message` because that type's constructors draw a transaction id
//! from the thread RNG, which has no place in a sans-IO machine.

mod options;

use dhcproto::v6::{
    DhcpOption, DhcpOptions, IANA, IAPD, MessageType, OptionCode, Status, StatusCode, UnknownOption,
};
use dhcproto::{Encodable, Encoder};

pub use options::domain_list_option;
use options::{check_options, decode_option};

/// Size of the fixed header: msg-type (1) and transaction-id (3), RFC 8415 §8.
pub const HEADER_LEN: usize = 4;

/// Deepest nesting of encapsulated options accepted (IA_PD → IA Prefix → option → option).
pub const MAX_DEPTH: u8 = 4;

/// A malformed DHCPv6 message. Small and `Copy`; variants carry the offending offset or value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Shorter than the 4-byte header.
    #[error("message of {0} bytes is shorter than the DHCPv6 header")]
    Truncated(usize),
    /// An option header or body runs past the end of its container.
    #[error("option at offset {offset} runs past the end of the message")]
    OptionOverrun {
        /// Offset of the option header inside its container.
        offset: usize,
    },
    /// An option's length does not fit its RFC 8415 §21 format.
    #[error("option {code} has invalid length {len}")]
    BadOptionLength {
        /// Option code.
        code: u16,
        /// Length field as received.
        len: u16,
    },
    /// An option's contents are invalid (e.g. a status message that is not UTF-8).
    #[error("option {code} has invalid contents")]
    BadOptionValue {
        /// Option code.
        code: u16,
    },
    /// Options nested deeper than [`MAX_DEPTH`].
    #[error("options nested deeper than {MAX_DEPTH}")]
    TooDeep,
    /// Relay messages (RFC 8415 §9) are not supported.
    #[error("relay messages are not supported")]
    Relay,
    /// `dhcproto` rejected an option that passed the checks here (should not happen).
    #[error("option {code} failed to decode")]
    Decode {
        /// Option code.
        code: u16,
    },
    /// `dhcproto` failed to encode a message (an option longer than 65535 bytes).
    #[error("message could not be encoded")]
    Encode,
}

/// One DHCPv6 client/server message (RFC 8415 §8): type, transaction id and options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repr {
    /// msg-type.
    pub msg_type: MessageType,
    /// transaction-id.
    pub xid: [u8; 3],
    /// Options, kept sorted by option code by `dhcproto`.
    pub opts: DhcpOptions,
}

impl Repr {
    /// A message with no options.
    pub fn new(msg_type: MessageType, xid: [u8; 3]) -> Self {
        Self { msg_type, xid, opts: DhcpOptions::new() }
    }

    /// Parses a UDP payload. Never panics; see the module documentation.
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        let (header, body) =
            bytes.split_at_checked(HEADER_LEN).ok_or(Error::Truncated(bytes.len()))?;
        let [kind, x0, x1, x2] =
            <[u8; HEADER_LEN]>::try_from(header).map_err(|_| Error::Truncated(bytes.len()))?;
        let msg_type = MessageType::from(kind);
        if matches!(msg_type, MessageType::RelayForw | MessageType::RelayRepl) {
            return Err(Error::Relay);
        }
        let spans = check_options(body, 0)?;
        let mut opts = DhcpOptions::new();
        // `DhcpOptions::insert` puts an option before others of the same code; inserting in
        // reverse keeps repeated options (several IA_PDs) in wire order.
        for (code, value) in spans.into_iter().rev() {
            opts.insert(decode_option(code, value)?);
        }
        Ok(Self { msg_type, xid: [x0, x1, x2], opts })
    }

    /// Encodes the message into a new buffer.
    pub fn to_vec(&self) -> Result<Vec<u8>, Error> {
        // `Encoder` writes from the start of the buffer, not the end: the header goes through it.
        let mut buf = Vec::with_capacity(256);
        let mut e = Encoder::new(&mut buf);
        e.write_u8(u8::from(self.msg_type)).map_err(|_| Error::Encode)?;
        e.write(self.xid).map_err(|_| Error::Encode)?;
        self.opts.encode(&mut e).map_err(|_| Error::Encode)?;
        Ok(buf)
    }

    /// Adds an option after any others with the same code.
    pub fn push(&mut self, opt: DhcpOption) -> &mut Self {
        let mut all: Vec<DhcpOption> = std::mem::take(&mut self.opts).into_iter().collect();
        all.insert(all.partition_point(|x| x <= &opt), opt);
        // `DhcpOptions::insert` puts an option before others of the same code; inserting in
        // reverse keeps the order.
        for o in all.into_iter().rev() {
            self.opts.insert(o);
        }
        self
    }

    /// The first option with this code.
    pub fn get(&self, code: OptionCode) -> Option<&DhcpOption> {
        self.opts.get(code)
    }

    /// Client Identifier (option 1) contents.
    pub fn client_id(&self) -> Option<&[u8]> {
        match self.get(OptionCode::ClientId) {
            Some(DhcpOption::ClientId(duid)) => Some(duid),
            _ => None,
        }
    }

    /// Server Identifier (option 2) contents.
    pub fn server_id(&self) -> Option<&[u8]> {
        match self.get(OptionCode::ServerId) {
            Some(DhcpOption::ServerId(duid)) => Some(duid),
            _ => None,
        }
    }

    /// Top-level Status Code (option 13); absent means Success (RFC 8415 §21.13).
    pub fn status(&self) -> Status {
        status_in(&self.opts)
    }

    /// Whether an option with this code is present.
    pub fn has(&self, code: OptionCode) -> bool {
        self.get(code).is_some()
    }

    /// All IA_PD options (option 25).
    pub fn ia_pds(&self) -> impl Iterator<Item = &IAPD> {
        self.opts.iter().filter_map(|o| match o {
            DhcpOption::IAPD(ia) => Some(ia),
            _ => None,
        })
    }

    /// All IA_NA options (option 3), in wire order.
    pub fn ia_nas(&self) -> impl Iterator<Item = &IANA> {
        self.opts.iter().filter_map(|o| match o {
            DhcpOption::IANA(ia) => Some(ia),
            _ => None,
        })
    }

    /// The body of an option kept opaque (not decoded by `dhcproto`), such as the Client FQDN
    /// (39, RFC 4704) or an unknown option.
    pub fn opaque(&self, code: OptionCode) -> Option<&[u8]> {
        match self.get(code) {
            Some(DhcpOption::Unknown(u)) => Some(u.data()),
            _ => None,
        }
    }

    /// A 32-bit option such as SOL_MAX_RT (82) or INF_MAX_RT (83), RFC 8415 §21.24/§21.25.
    pub fn u32_option(&self, code: OptionCode) -> Option<u32> {
        match self.get(code) {
            Some(DhcpOption::Unknown(u)) => u.data().try_into().ok().map(u32::from_be_bytes),
            Some(DhcpOption::InformationRefreshTime(t)) => Some(*t),
            _ => None,
        }
    }
}

/// The Status Code in a list of options; absent means Success (RFC 8415 §21.13).
pub fn status_in(opts: &DhcpOptions) -> Status {
    match opts.get(OptionCode::StatusCode) {
        Some(DhcpOption::StatusCode(sc)) => sc.status,
        _ => Status::Success,
    }
}

/// A Status Code option with a message.
pub fn status_option(status: Status, msg: &str) -> DhcpOption {
    DhcpOption::StatusCode(StatusCode { status, msg: msg.to_owned() })
}

/// A 32-bit option carried as unknown because `dhcproto` has no variant for it.
pub fn u32_option(code: OptionCode, value: u32) -> DhcpOption {
    DhcpOption::Unknown(UnknownOption::new(code, value.to_be_bytes().to_vec()))
}
