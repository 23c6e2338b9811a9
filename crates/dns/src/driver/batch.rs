//! Batched UDP for the DNS listener: up to [`BATCH`] queries read with one `recvmmsg`, their
//! answers sent with one `sendmmsg`, instead of a `recvfrom` and a `sendto` (and a trip
//! through the reactor) per query. A busy resolver has many queries queued at each wake-up;
//! an idle one reads its one query as before.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};

use socket2::{SockAddr, SockAddrStorage};

/// Datagrams per system call.
pub const BATCH: usize = 32;

/// Bytes read per datagram. A longer one (no real query is: the question is one name) is
/// cut here and reported as such ([`Datagram::truncated`]).
const DATAGRAM_MAX: usize = 4096;

/// One datagram of a [`RecvBatch`].
#[derive(Debug, Clone, Copy)]
pub struct Datagram<'a> {
    /// Its bytes (the first [`DATAGRAM_MAX`] if it was longer).
    pub bytes: &'a [u8],
    /// Where it came from.
    pub src: SocketAddr,
    /// It was longer than the buffer: `bytes` is only its start.
    pub truncated: bool,
}

/// Receive buffers, their source addresses and headers for one `recvmmsg`.
pub struct RecvBatch {
    bufs: Vec<Vec<u8>>,
    names: Vec<SockAddrStorage>,
    iovs: Vec<libc::iovec>,
    hdrs: Vec<libc::mmsghdr>,
    /// (length, source, truncated) of each datagram of the last [`RecvBatch::recv`]; `None`:
    /// from an address that is not IP.
    got: Vec<Option<(usize, SocketAddr, bool)>>,
}

// SAFETY: the raw pointers in `iovs` and `hdrs` point only into the batch's own heap
// buffers (`bufs`, `names`), which move with it.
unsafe impl Send for RecvBatch {}

impl Default for RecvBatch {
    fn default() -> Self {
        Self::new()
    }
}

impl RecvBatch {
    /// Buffers for [`BATCH`] datagrams.
    pub fn new() -> Self {
        RecvBatch {
            bufs: (0..BATCH).map(|_| vec![0; DATAGRAM_MAX]).collect(),
            names: (0..BATCH).map(|_| SockAddrStorage::zeroed()).collect(),
            iovs: Vec::with_capacity(BATCH),
            // SAFETY: an all-zero mmsghdr is a valid empty header.
            hdrs: (0..BATCH).map(|_| unsafe { std::mem::zeroed() }).collect(),
            got: Vec::with_capacity(BATCH),
        }
    }

    /// Reads what is queued, without waiting (`MSG_DONTWAIT`: `WouldBlock` when nothing is);
    /// returns how many datagrams, each then in [`RecvBatch::datagram`].
    pub fn recv(&mut self, fd: RawFd) -> io::Result<usize> {
        self.iovs.clear();
        for buf in &mut self.bufs {
            self.iovs.push(libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() });
        }
        for ((h, iov), name) in self.hdrs.iter_mut().zip(&mut self.iovs).zip(&mut self.names) {
            h.msg_hdr.msg_namelen = name.size_of();
            // SockAddrStorage is repr(transparent) over sockaddr_storage.
            h.msg_hdr.msg_name = (name as *mut SockAddrStorage).cast();
            h.msg_hdr.msg_iov = iov;
            h.msg_hdr.msg_iovlen = 1;
            h.msg_hdr.msg_control = std::ptr::null_mut();
            h.msg_hdr.msg_controllen = 0;
            h.msg_hdr.msg_flags = 0;
            h.msg_len = 0;
        }
        // SAFETY: every header points at a live buffer and address of the stated sizes,
        // owned by `self` and not moved during the call.
        let n = unsafe {
            libc::recvmmsg(
                fd,
                self.hdrs.as_mut_ptr(),
                self.hdrs.len() as u32,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        let n = usize::try_from(n).map_err(|_| io::Error::last_os_error())?;
        self.got.clear();
        for (h, name) in self.hdrs.iter().zip(&mut self.names).take(n) {
            let truncated = h.msg_hdr.msg_flags & libc::MSG_TRUNC != 0;
            let storage = std::mem::replace(name, SockAddrStorage::zeroed());
            // SAFETY: the kernel wrote a socket address of `msg_namelen` bytes into it.
            let src = unsafe { SockAddr::new(storage, h.msg_hdr.msg_namelen) }.as_socket();
            let len = (h.msg_len as usize).min(DATAGRAM_MAX);
            self.got.push(src.map(|s| (len, s, truncated)));
        }
        Ok(n)
    }

    /// The `i`th datagram of the last [`RecvBatch::recv`]; `None` for one from no IP
    /// address.
    pub fn datagram(&self, i: usize) -> Option<Datagram<'_>> {
        let (len, src, truncated) = (*self.got.get(i)?)?;
        Some(Datagram { bytes: self.bufs.get(i)?.get(..len)?, src, truncated })
    }
}

/// Answers queued for one `sendmmsg`: each its own buffer and destination.
#[derive(Default)]
pub struct SendBatch {
    /// The answers; [`SendBatch::len`] of them are queued.
    bufs: Vec<Vec<u8>>,
    dsts: Vec<SockAddr>,
    queued: usize,
}

impl SendBatch {
    /// A buffer to write the next answer into (cleared), if the batch has room; queue it
    /// with [`SendBatch::push`].
    pub fn next_buf(&mut self) -> Option<&mut Vec<u8>> {
        if self.queued >= BATCH {
            return None;
        }
        if self.bufs.len() <= self.queued {
            self.bufs.push(Vec::with_capacity(1232));
        }
        let b = self.bufs.get_mut(self.queued)?;
        b.clear();
        Some(b)
    }

    /// Queues the buffer [`SendBatch::next_buf`] gave, for `dst`.
    pub fn push(&mut self, dst: SocketAddr) {
        if self.queued < BATCH && self.queued < self.bufs.len() {
            let d = SockAddr::from(dst);
            match self.dsts.get_mut(self.queued) {
                Some(slot) => *slot = d,
                None => self.dsts.push(d),
            }
            self.queued += 1;
        }
    }

    /// How many answers are queued.
    pub fn len(&self) -> usize {
        self.queued
    }

    /// The `i`th queued answer and its destination.
    pub fn get(&self, i: usize) -> Option<(&[u8], SocketAddr)> {
        if i >= self.queued {
            return None;
        }
        Some((self.bufs.get(i)?.as_slice(), self.dsts.get(i)?.as_socket()?))
    }

    /// Sends the queued answers from `skip` on with as few `sendmmsg` calls as the kernel
    /// allows, without waiting; returns how many went (from `skip`). `WouldBlock` only if
    /// none did.
    pub fn send(&mut self, fd: RawFd, skip: usize) -> io::Result<usize> {
        let n = self.queued.saturating_sub(skip);
        let mut iovs: Vec<libc::iovec> = Vec::with_capacity(n);
        for b in self.bufs.iter_mut().skip(skip).take(n) {
            iovs.push(libc::iovec { iov_base: b.as_mut_ptr().cast(), iov_len: b.len() });
        }
        // SAFETY: an all-zero mmsghdr is a valid empty header.
        let mut hdrs: Vec<libc::mmsghdr> =
            (0..iovs.len()).map(|_| unsafe { std::mem::zeroed() }).collect();
        for ((h, iov), dst) in hdrs.iter_mut().zip(&mut iovs).zip(self.dsts.iter().skip(skip)) {
            h.msg_hdr.msg_name = dst.as_ptr() as *mut libc::c_void;
            h.msg_hdr.msg_namelen = dst.len();
            h.msg_hdr.msg_iov = iov;
            h.msg_hdr.msg_iovlen = 1;
        }
        let mut sent = 0;
        while sent < hdrs.len() {
            let rest = hdrs.get_mut(sent..).unwrap_or_default();
            // SAFETY: each header points at a live buffer and destination of the stated
            // sizes (`iovs`, `self.bufs`, `self.dsts`), none moved or freed during the call.
            let k = unsafe {
                libc::sendmmsg(fd, rest.as_mut_ptr(), rest.len() as u32, libc::MSG_DONTWAIT)
            };
            match usize::try_from(k) {
                Ok(0) => break,
                Ok(k) => sent += k,
                Err(_) if sent > 0 => break,
                Err(_) => return Err(io::Error::last_os_error()),
            }
        }
        Ok(sent)
    }

    /// Empties the batch (the buffers are kept for the next one).
    pub fn clear(&mut self) {
        self.queued = 0;
    }
}

/// The raw descriptor of a tokio UDP socket.
pub fn fd(sock: &tokio::net::UdpSocket) -> RawFd {
    sock.as_raw_fd()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    /// 40 datagrams from two senders, of sizes 1 to 5,000 bytes, read in batches of at most
    /// BATCH: each arrives once, in order, with its source; the one over 4,096 bytes is
    /// marked truncated. Then answers to all of them go out in batches and arrive.
    #[test]
    fn batches_carry_every_datagram_and_answer() {
        let server = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let (a, b) = (
            std::net::UdpSocket::bind("127.0.0.1:0").unwrap(),
            std::net::UdpSocket::bind("127.0.0.1:0").unwrap(),
        );
        let to = server.local_addr().unwrap();
        let sizes: Vec<usize> = (0..40).map(|i| if i == 7 { 5000 } else { 1 + i * 37 }).collect();
        for (i, &n) in sizes.iter().enumerate() {
            let from = if i % 2 == 0 { &a } else { &b };
            from.send_to(&vec![i as u8; n], to).unwrap();
        }
        let mut rx = RecvBatch::new();
        let mut seen = Vec::new();
        let fd = server.as_raw_fd();
        while seen.len() < sizes.len() {
            let n = rx.recv(fd).unwrap();
            assert!((1..=BATCH).contains(&n));
            for i in 0..n {
                let d = rx.datagram(i).unwrap();
                seen.push((d.bytes.len(), d.bytes.first().copied(), d.src, d.truncated));
            }
        }
        assert_eq!(rx.recv(fd).unwrap_err().kind(), io::ErrorKind::WouldBlock);
        for (i, &(len, first, src, truncated)) in seen.iter().enumerate() {
            let from = if i % 2 == 0 { &a } else { &b };
            assert_eq!(src, from.local_addr().unwrap());
            assert_eq!(first, Some(i as u8));
            assert_eq!((len, truncated), (sizes[i].min(4096), sizes[i] > 4096), "datagram {i}");
        }
        let mut tx = SendBatch::default();
        for chunk in seen.chunks(BATCH) {
            for &(len, first, src, _) in chunk {
                let buf = tx.next_buf().unwrap();
                buf.extend(std::iter::repeat_n(first.unwrap(), len.min(512)));
                tx.push(src);
            }
            assert_eq!(tx.send(fd, 0).unwrap(), chunk.len());
            tx.clear();
        }
        let mut buf = [0u8; 600];
        for from in [&a, &b] {
            from.set_read_timeout(Some(std::time::Duration::from_secs(2))).unwrap();
            for _ in 0..20 {
                let (n, src) = from.recv_from(&mut buf).unwrap();
                assert_eq!(src, to);
                assert!(n >= 1 && buf[..n].iter().all(|&x| x == buf[0]));
            }
        }
    }

    #[test]
    fn a_full_send_batch_refuses_more() {
        let mut tx = SendBatch::default();
        for _ in 0..BATCH {
            tx.next_buf().unwrap().push(1);
            tx.push("127.0.0.1:9".parse().unwrap());
        }
        assert!(tx.next_buf().is_none());
        assert_eq!(tx.len(), BATCH);
    }
}
