//! PAP packets (RFC 1334 §2.2) and CHAP packets (RFC 1994 §4), with the CHAP-MD5 response.

use md5::{Digest, Md5};

use super::{Error, get_u8, get_u16, len_u8, len_u16, split};

/// Reads a one-octet length and that many bytes; returns them and the rest.
fn counted(buf: &[u8]) -> Result<(&[u8], &[u8]), Error> {
    let len = usize::from(get_u8(buf, 0)?);
    let (_, rest) = split(buf, 1)?;
    rest.split_at_checked(len).ok_or(Error::BadLength { offset: 0, len })
}

/// Splits an RFC 1661 §5-style packet (Code, Identifier, Length) trimmed to Length.
fn header(buf: &[u8]) -> Result<(u8, u8, &[u8]), Error> {
    let code = get_u8(buf, 0)?;
    let id = get_u8(buf, 1)?;
    let len = usize::from(get_u16(buf, 2)?);
    if len < 4 {
        return Err(Error::BadLength { offset: 2, len });
    }
    let (packet, _padding) = split(buf, len)?;
    Ok((code, id, packet.get(4..).unwrap_or_default()))
}

/// Prepends Code, Identifier and Length to `body`.
fn frame(code: u8, id: u8, body: &[u8]) -> Result<Vec<u8>, Error> {
    let len = len_u16(body.len().saturating_add(4))?;
    let mut out = vec![code, id];
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(body);
    Ok(out)
}

/// A PAP packet (RFC 1334 §2.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PapPacket {
    /// Code 1: the peer's credentials.
    AuthenticateRequest {
        /// Identifier.
        id: u8,
        /// Peer-ID (user name).
        peer_id: Vec<u8>,
        /// Password.
        password: Vec<u8>,
    },
    /// Code 2.
    AuthenticateAck {
        /// Identifier of the request.
        id: u8,
        /// Message.
        message: Vec<u8>,
    },
    /// Code 3.
    AuthenticateNak {
        /// Identifier of the request.
        id: u8,
        /// Message.
        message: Vec<u8>,
    },
}

impl PapPacket {
    /// Parses a PAP packet.
    pub fn parse(buf: &[u8]) -> Result<Self, Error> {
        let (code, id, body) = header(buf)?;
        Ok(match code {
            0x01 => {
                let (peer_id, rest) = counted(body)?;
                let (password, _) = counted(rest)?;
                PapPacket::AuthenticateRequest {
                    id,
                    peer_id: peer_id.to_vec(),
                    password: password.to_vec(),
                }
            }
            0x02 => PapPacket::AuthenticateAck { id, message: counted(body)?.0.to_vec() },
            0x03 => PapPacket::AuthenticateNak { id, message: counted(body)?.0.to_vec() },
            other => return Err(Error::UnknownCode(other)),
        })
    }

    /// The packet as bytes.
    pub fn to_vec(&self) -> Result<Vec<u8>, Error> {
        let mut body = Vec::new();
        let (code, id) = match self {
            PapPacket::AuthenticateRequest { id, peer_id, password } => {
                body.push(len_u8(peer_id.len())?);
                body.extend_from_slice(peer_id);
                body.push(len_u8(password.len())?);
                body.extend_from_slice(password);
                (0x01, *id)
            }
            PapPacket::AuthenticateAck { id, message }
            | PapPacket::AuthenticateNak { id, message } => {
                body.push(len_u8(message.len())?);
                body.extend_from_slice(message);
                let code =
                    if matches!(self, PapPacket::AuthenticateAck { .. }) { 0x02 } else { 0x03 };
                (code, *id)
            }
        };
        frame(code, id, &body)
    }
}

/// A CHAP packet (RFC 1994 §4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChapPacket {
    /// Code 1: the authenticator's challenge.
    Challenge {
        /// Identifier.
        id: u8,
        /// Challenge value.
        value: Vec<u8>,
        /// Authenticator name.
        name: Vec<u8>,
    },
    /// Code 2: the peer's response.
    Response {
        /// Identifier of the challenge.
        id: u8,
        /// Hash value (16 octets for MD5).
        value: Vec<u8>,
        /// Peer name.
        name: Vec<u8>,
    },
    /// Code 3.
    Success {
        /// Identifier of the response.
        id: u8,
        /// Message.
        message: Vec<u8>,
    },
    /// Code 4.
    Failure {
        /// Identifier of the response.
        id: u8,
        /// Message.
        message: Vec<u8>,
    },
}

impl ChapPacket {
    /// Parses a CHAP packet.
    pub fn parse(buf: &[u8]) -> Result<Self, Error> {
        let (code, id, body) = header(buf)?;
        Ok(match code {
            0x01 | 0x02 => {
                let (value, name) = counted(body)?;
                let (value, name) = (value.to_vec(), name.to_vec());
                if code == 0x01 {
                    ChapPacket::Challenge { id, value, name }
                } else {
                    ChapPacket::Response { id, value, name }
                }
            }
            0x03 => ChapPacket::Success { id, message: body.to_vec() },
            0x04 => ChapPacket::Failure { id, message: body.to_vec() },
            other => return Err(Error::UnknownCode(other)),
        })
    }

    /// The packet as bytes.
    pub fn to_vec(&self) -> Result<Vec<u8>, Error> {
        match self {
            ChapPacket::Challenge { id, value, name }
            | ChapPacket::Response { id, value, name } => {
                let mut body = vec![len_u8(value.len())?];
                body.extend_from_slice(value);
                body.extend_from_slice(name);
                let code = if matches!(self, ChapPacket::Challenge { .. }) { 0x01 } else { 0x02 };
                frame(code, *id, &body)
            }
            ChapPacket::Success { id, message } => frame(0x03, *id, message),
            ChapPacket::Failure { id, message } => frame(0x04, *id, message),
        }
    }
}

/// The CHAP-MD5 response value: MD5(Identifier ‖ secret ‖ challenge) (RFC 1994 §4.1).
pub fn chap_md5(id: u8, secret: &[u8], challenge: &[u8]) -> [u8; 16] {
    let mut h = Md5::new();
    h.update([id]);
    h.update(secret);
    h.update(challenge);
    h.finalize().into()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    // Hand-built from RFC 1334 §2.2.1: Authenticate-Request id 7, Peer-ID "user",
    // Password "pass".
    const PAP_REQ: [u8; 14] =
        [0x01, 0x07, 0x00, 0x0e, 0x04, b'u', b's', b'e', b'r', 0x04, b'p', b'a', b's', b's'];

    #[test]
    fn pap_quartet() {
        let want = PapPacket::AuthenticateRequest {
            id: 7,
            peer_id: b"user".to_vec(),
            password: b"pass".to_vec(),
        };
        assert_eq!(PapPacket::parse(&PAP_REQ).unwrap(), want);
        assert_eq!(want.to_vec().unwrap(), PAP_REQ);
        let nak = PapPacket::AuthenticateNak { id: 7, message: b"no".to_vec() };
        assert_eq!(PapPacket::parse(&nak.to_vec().unwrap()).unwrap(), nak);
        assert!(PapPacket::parse(&PAP_REQ[..13]).is_err());
        let mut bad = PAP_REQ;
        bad[9] = 9; // password length past the end
        assert!(PapPacket::parse(&bad).is_err());
    }

    // Hand-built from RFC 1994 §4.1: Challenge id 1 with a 4-byte value and name "ac".
    const CHALLENGE: [u8; 11] = [0x01, 0x01, 0x00, 0x0b, 0x04, 1, 2, 3, 4, b'a', b'c'];

    #[test]
    fn chap_quartet() {
        let want = ChapPacket::Challenge { id: 1, value: vec![1, 2, 3, 4], name: b"ac".to_vec() };
        assert_eq!(ChapPacket::parse(&CHALLENGE).unwrap(), want);
        assert_eq!(want.to_vec().unwrap(), CHALLENGE);
        let ok = ChapPacket::Success { id: 1, message: b"Welcome".to_vec() };
        assert_eq!(ChapPacket::parse(&ok.to_vec().unwrap()).unwrap(), ok);
        assert_eq!(ChapPacket::parse(&[9, 1, 0, 4]), Err(Error::UnknownCode(9)));
    }

    #[test]
    fn chap_md5_known_answer() {
        // MD5 of the empty string is d41d8cd98f00b204e9800998ecf8427e; MD5("\x00") begins
        // 93b885ad (RFC 1321 test vectors plus a one-byte check), so the identifier is hashed.
        let empty_challenge = chap_md5(0, b"", b"");
        assert_eq!(empty_challenge[..4], [0x93, 0xb8, 0x85, 0xad]);
    }
}
