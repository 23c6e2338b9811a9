//! The system calls of the data path: AF_PACKET sockets (bound, BPF-filtered), their mapped
//! receive ring, recvmmsg/sendmmsg batches (802.1Q tags restored from the ring's frame header
//! or PACKET_AUXDATA), and the TUN device.
//!
//! Linux takes a received frame's 802.1Q tag out of the data before any packet socket sees it
//! (`skb_vlan_untag`) and reports it in the auxiliary data; libpcap puts it back, and so do
//! we, so the sans-IO machines see the frame as it was on the wire.

#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// Room kept in front of each receive buffer to put a VLAN tag back.
pub const TAG_ROOM: usize = 4;
/// Largest frame handled: 1500-byte payload + PPPoE + PPP + Ethernet + 802.1Q, with margin.
pub const FRAME_MAX: usize = 1600;

const TP_STATUS_VLAN_VALID: u32 = 1 << 4;
const TP_STATUS_VLAN_TPID_VALID: u32 = 1 << 6;

fn cvt(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 { Err(io::Error::last_os_error()) } else { Ok(rc) }
}

fn setsockopt<T>(fd: RawFd, level: i32, name: i32, v: &T) -> io::Result<()> {
    // SAFETY: a valid fd and a pointer to a live T with its exact size.
    cvt(unsafe {
        libc::setsockopt(fd, level, name, (v as *const T).cast(), size_of::<T>() as libc::socklen_t)
    })
    .map(drop)
}

/// An AF_PACKET raw socket bound to one interface and one ethertype.
pub struct PacketSocket {
    fd: OwnedFd,
    ifindex: i32,
}

impl PacketSocket {
    /// Opens a socket on interface `ifindex` for every ethertype (`ETH_P_ALL`: the only way
    /// to see 802.1Q tags), with auxiliary data (the tags) on, and `timeout` on receives so
    /// the owner can check for shutdown. Narrow it with [`PacketSocket::filter`].
    pub fn open(ifindex: u32, timeout: std::time::Duration) -> io::Result<Self> {
        let proto = (libc::ETH_P_ALL as u16).to_be();
        // SAFETY: plain socket(2); the fd is owned at once.
        let fd = cvt(unsafe {
            libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, i32::from(proto))
        })?;
        // SAFETY: fd is a new, valid descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let ifindex = i32::try_from(ifindex).map_err(|_| io::Error::other("ifindex"))?;
        // SAFETY: zeroed sockaddr_ll is valid; fields set below.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = proto;
        sll.sll_ifindex = ifindex;
        // SAFETY: bind with a correctly sized sockaddr_ll.
        cvt(unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&raw const sll).cast(),
                size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        })?;
        setsockopt(fd.as_raw_fd(), libc::SOL_PACKET, libc::PACKET_AUXDATA, &1i32)?;
        let tv = libc::timeval {
            tv_sec: timeout.as_secs() as libc::time_t,
            tv_usec: libc::suseconds_t::from(timeout.subsec_micros()),
        };
        setsockopt(fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_RCVTIMEO, &tv)?;
        let big = 4 * 1024 * 1024i32;
        let _ = setsockopt(fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, &big);
        let _ = setsockopt(fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_SNDBUFFORCE, &big);
        // Frames go straight to the driver, not through the interface's queueing discipline
        // (PACKET_QDISC_BYPASS): what a PPPoE session needs, and one layer less per packet.
        let _ = setsockopt(fd.as_raw_fd(), libc::SOL_PACKET, libc::PACKET_QDISC_BYPASS, &1i32);
        Ok(PacketSocket { fd, ifindex })
    }

    /// Only frames of `ethertype`, on VLAN `vlan` (or untagged when `None`), addressed to
    /// `mac` (or broadcast, when `broadcast`), and not sent by us, reach this socket: a
    /// classic BPF program the kernel runs before it queues anything. The socket must be
    /// bound to `ETH_P_ALL` (see [`PacketSocket::open`]): protocol-bound sockets get
    /// VLAN-tagged frames only after the kernel has thrown the tag away.
    pub fn filter(
        &self,
        mac: [u8; 6],
        ethertype: u16,
        vlan: Option<u16>,
        broadcast: bool,
    ) -> io::Result<()> {
        let mut prog = filter_program(mac, ethertype, vlan, broadcast);
        let fprog = libc::sock_fprog { len: prog.len() as u16, filter: prog.as_mut_ptr() };
        setsockopt(self.fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, &fprog)
    }

    /// Sends one frame.
    pub fn send(&self, frame: &[u8]) -> io::Result<()> {
        // SAFETY: send(2) from a live slice on a bound socket.
        let n = unsafe { libc::send(self.fd.as_raw_fd(), frame.as_ptr().cast(), frame.len(), 0) };
        if n < 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
    }

    /// The interface index the socket is bound to.
    pub fn ifindex(&self) -> i32 {
        self.ifindex
    }
}

/// The classic BPF program of [`PacketSocket::filter`].
fn filter_program(
    mac: [u8; 6],
    ethertype: u16,
    vlan: Option<u16>,
    broadcast: bool,
) -> Vec<libc::sock_filter> {
    const LD_W: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
    const LD_H: u16 = 0x28; // BPF_LD | BPF_H | BPF_ABS
    const AND: u16 = 0x54; // BPF_ALU | BPF_AND | BPF_K
    // Linux ancillary loads (SKF_AD_OFF + ...).
    const AD_PKTTYPE: u32 = 0xffff_f000 + 4;
    const AD_VLAN_TAG: u32 = 0xffff_f000 + 44;
    const AD_VLAN_PRESENT: u32 = 0xffff_f000 + 48;
    const PACKET_OUTGOING: u32 = 4;
    use Label::{Accept, Broadcast, Checks, Drop};
    use To::{L, Next};
    let [m0, m1, m2, m3, m4, m5] = mac;
    let mut p = Bpf::default();
    p.op(LD_W, 0); // A = dst[0..4]
    p.jeq(u32::from_be_bytes([m0, m1, m2, m3]), Next, L(if broadcast { Broadcast } else { Drop }));
    p.op(LD_H, 4); // A = dst[4..6]
    p.jeq(u32::from(u16::from_be_bytes([m4, m5])), L(Checks), L(Drop));
    if broadcast {
        p.label(Broadcast); // A = dst[0..4] still
        p.jeq(0xffff_ffff, Next, L(Drop));
        p.op(LD_H, 4);
        p.jeq(0xffff, Next, L(Drop));
    }
    p.label(Checks);
    p.op(LD_W, AD_PKTTYPE);
    p.jeq(PACKET_OUTGOING, L(Drop), Next); // our own frames going out
    p.op(LD_H, 12); // the ethertype: the kernel has taken the tag out already
    p.jeq(u32::from(ethertype), Next, L(Drop));
    p.op(LD_W, AD_VLAN_PRESENT);
    match vlan {
        Some(id) => {
            p.jeq(1, Next, L(Drop));
            p.op(LD_W, AD_VLAN_TAG);
            p.op(AND, 0x0fff);
            p.jeq(u32::from(id), L(Accept), L(Drop));
        }
        None => p.jeq(0, L(Accept), L(Drop)),
    }
    p.finish()
}

/// Jump targets of [`filter_program`]; `Accept` and `Drop` are the two returns at the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Label {
    Broadcast,
    Checks,
    Accept,
    Drop,
}

/// Where a conditional jump goes.
#[derive(Debug, Clone, Copy)]
enum To {
    Next,
    L(Label),
}

/// A classic BPF assembler with forward labels, so that no jump offset is counted by hand.
#[derive(Default)]
struct Bpf {
    ins: Vec<(u16, To, To, u32)>,
    labels: Vec<(Label, usize)>,
}

impl Bpf {
    const JEQ: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
    const RET: u16 = 0x06; // BPF_RET | BPF_K

    fn op(&mut self, code: u16, k: u32) {
        self.ins.push((code, To::Next, To::Next, k));
    }

    fn jeq(&mut self, k: u32, jt: To, jf: To) {
        self.ins.push((Self::JEQ, jt, jf, k));
    }

    fn label(&mut self, l: Label) {
        self.labels.push((l, self.ins.len()));
    }

    /// Appends `Accept` (the whole frame) and `Drop`, and resolves the jumps. A jump that is
    /// not forward or too far becomes offset 255, which the kernel's checker refuses.
    fn finish(mut self) -> Vec<libc::sock_filter> {
        self.label(Label::Accept);
        self.op(Self::RET, 0xffff);
        self.label(Label::Drop);
        self.op(Self::RET, 0);
        let labels = self.labels;
        let off = |from: usize, to: To| match to {
            To::Next => 0,
            To::L(l) => labels
                .iter()
                .find(|&&(m, _)| m == l)
                .and_then(|&(_, at)| at.checked_sub(from + 1))
                .and_then(|d| u8::try_from(d).ok())
                .unwrap_or(u8::MAX),
        };
        let ins = self.ins.iter().enumerate();
        ins.map(|(i, &(code, jt, jf, k))| libc::sock_filter {
            code,
            jt: off(i, jt),
            jf: off(i, jf),
            k,
        })
        .collect()
    }
}

/// Preallocated buffers and headers for batched receives.
pub struct RecvBatch {
    bufs: Vec<[u8; FRAME_MAX + TAG_ROOM]>,
    cmsgs: Vec<[u64; 8]>,
    iovs: Vec<libc::iovec>,
    hdrs: Vec<libc::mmsghdr>,
    /// (start, len) of each received frame in its buffer, after tag restoration.
    frames: Vec<(usize, usize)>,
}

// SAFETY: the raw pointers inside only point into the batch's own heap buffers.
unsafe impl Send for RecvBatch {}

impl RecvBatch {
    /// Buffers for up to `n` frames per call.
    pub fn new(n: usize) -> Self {
        let mut b = RecvBatch {
            bufs: vec![[0; FRAME_MAX + TAG_ROOM]; n],
            cmsgs: vec![[0; 8]; n],
            iovs: Vec::with_capacity(n),
            // SAFETY: an all-zero mmsghdr is a valid empty header.
            hdrs: (0..n).map(|_| unsafe { std::mem::zeroed() }).collect(),
            frames: Vec::with_capacity(n),
        };
        for buf in &mut b.bufs {
            b.iovs.push(libc::iovec {
                iov_base: buf[TAG_ROOM..].as_mut_ptr().cast(),
                iov_len: FRAME_MAX,
            });
        }
        b
    }

    /// Receives up to the batch size of frames (blocking until one arrives or the socket's
    /// timeout passes); returns how many. Then [`RecvBatch::frame`] gives each.
    pub fn recv(&mut self, sock: &PacketSocket) -> io::Result<usize> {
        for ((h, iov), cmsg) in self.hdrs.iter_mut().zip(&mut self.iovs).zip(&mut self.cmsgs) {
            h.msg_hdr.msg_iov = iov;
            h.msg_hdr.msg_iovlen = 1;
            h.msg_hdr.msg_control = cmsg.as_mut_ptr().cast();
            h.msg_hdr.msg_controllen = size_of::<[u64; 8]>();
            h.msg_len = 0;
        }
        // SAFETY: every header points at live buffers of the stated sizes.
        let n = unsafe {
            libc::recvmmsg(
                sock.fd.as_raw_fd(),
                self.hdrs.as_mut_ptr(),
                self.hdrs.len() as u32,
                libc::MSG_WAITFORONE,
                std::ptr::null_mut(),
            )
        };
        let n = usize::try_from(n).map_err(|_| io::Error::last_os_error())?;
        self.frames.clear();
        for (h, buf) in self.hdrs.iter().zip(&mut self.bufs).take(n) {
            let len = (h.msg_len as usize).min(FRAME_MAX);
            match vlan_from_cmsg(&h.msg_hdr) {
                Some((tpid, tci)) if len >= 12 => {
                    // Put the tag back between the MAC addresses and the ethertype.
                    buf.copy_within(TAG_ROOM..TAG_ROOM + 12, 0);
                    buf[12..14].copy_from_slice(&tpid.to_be_bytes());
                    buf[14..16].copy_from_slice(&tci.to_be_bytes());
                    self.frames.push((0, len + TAG_ROOM));
                }
                _ => self.frames.push((TAG_ROOM, len)),
            }
        }
        Ok(n)
    }

    /// The `i`th frame of the last [`RecvBatch::recv`].
    pub fn frame(&self, i: usize) -> &[u8] {
        let (start, len) = self.frames.get(i).copied().unwrap_or((0, 0));
        self.bufs.get(i).and_then(|b| b.get(start..start + len)).unwrap_or(&[])
    }
}

fn vlan_from_cmsg(hdr: &libc::msghdr) -> Option<(u16, u16)> {
    // SAFETY: the kernel filled msg_control; CMSG_* walk it within msg_controllen.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(hdr);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_PACKET && (*c).cmsg_type == libc::PACKET_AUXDATA {
                let aux = libc::CMSG_DATA(c).cast::<libc::tpacket_auxdata>().read_unaligned();
                if aux.tp_status & TP_STATUS_VLAN_VALID != 0 {
                    let tpid = if aux.tp_status & TP_STATUS_VLAN_TPID_VALID != 0 {
                        aux.tp_vlan_tpid
                    } else {
                        0x8100
                    };
                    return Some((tpid, aux.tp_vlan_tci));
                }
                return None;
            }
            c = libc::CMSG_NXTHDR(hdr, c);
        }
        None
    }
}

/// Slot size of the [`RxRing`]: the kernel's frame header, the reserve and [`FRAME_MAX`].
const RING_FRAME: usize = 2048;
/// Slots per block (a block is what the kernel allocates at once: 64 KiB).
const RING_FRAMES_PER_BLOCK: usize = 32;
/// Blocks: 2,048 slots, 4 MiB, as deep as the socket buffer the receive path had before.
const RING_BLOCKS: usize = 64;

/// A receive ring (PACKET_RX_RING, TPACKET_V2) on a packet socket: the kernel writes each
/// frame that passes the filter into the next slot of a ring mapped into our memory and we
/// read it there: no system call while frames keep coming, no skb queued on the socket and
/// freed per frame, no copy out through `recvmsg` with its headers and control messages.
/// (TPACKET_V3 hands over whole blocks, which adds up to its block timeout, at least 1 ms,
/// of latency to sparse traffic; V2 hands over each frame as soon as it is written.)
///
/// Each slot is the kernel's until its status says `TP_STATUS_USER`, then ours until we
/// give it back with `TP_STATUS_KERNEL`; [`RxRing::recv_with`] lends the frame out between
/// the two and never past them. The 802.1Q tag the kernel took out is put back in place:
/// `PACKET_RESERVE` keeps room for it in front of the frame.
pub struct RxRing {
    sock: std::sync::Arc<PacketSocket>,
    map: std::ptr::NonNull<u8>,
    next: usize,
}

// SAFETY: the mapping belongs to the ring alone and is used from one thread at a time.
unsafe impl Send for RxRing {}

impl RxRing {
    /// Sets the ring up on `sock` and maps it. Fails where the kernel has no packet rings
    /// (the caller then receives with [`RecvBatch`]).
    pub fn new(sock: std::sync::Arc<PacketSocket>) -> io::Result<Self> {
        let fd = sock.fd.as_raw_fd();
        setsockopt(
            fd,
            libc::SOL_PACKET,
            libc::PACKET_VERSION,
            &(libc::tpacket_versions::TPACKET_V2 as i32),
        )?;
        setsockopt(fd, libc::SOL_PACKET, libc::PACKET_RESERVE, &(TAG_ROOM as u32))?;
        let req = libc::tpacket_req {
            tp_block_size: (RING_FRAME * RING_FRAMES_PER_BLOCK) as u32,
            tp_block_nr: RING_BLOCKS as u32,
            tp_frame_size: RING_FRAME as u32,
            tp_frame_nr: (RING_FRAMES_PER_BLOCK * RING_BLOCKS) as u32,
        };
        setsockopt(fd, libc::SOL_PACKET, libc::PACKET_RX_RING, &req)?;
        // SAFETY: mmap of the ring just set up on this socket, its whole length, shared (the
        // kernel writes it); checked for MAP_FAILED.
        let map = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                Self::len(),
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd,
                0,
            )
        };
        if map == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let map = std::ptr::NonNull::new(map.cast()).ok_or_else(|| io::Error::other("mmap"))?;
        Ok(RxRing { sock, map, next: 0 })
    }

    const fn len() -> usize {
        RING_FRAME * RING_FRAMES_PER_BLOCK * RING_BLOCKS
    }

    fn slot(&self) -> *mut u8 {
        // SAFETY: `next < RING_FRAMES_PER_BLOCK * RING_BLOCKS`, so the slot lies inside the
        // mapping (blocks are whole multiples of the slot size, back to back).
        unsafe { self.map.as_ptr().add(self.next * RING_FRAME) }
    }

    /// The status word of the next slot, through which the kernel and we hand it over.
    fn status(&self) -> &std::sync::atomic::AtomicU32 {
        // SAFETY: every slot starts with `tpacket2_hdr`, whose first field is the `u32`
        // `tp_status`, aligned (slots are 2048-byte aligned in a page-aligned mapping); the
        // kernel and this thread only ever access it atomically; the mapping lives as long as
        // `self`, which the reference borrows.
        unsafe { std::sync::atomic::AtomicU32::from_ptr(self.slot().cast()) }
    }

    /// Whether the next slot holds a frame for us.
    fn ready(&self) -> bool {
        self.status().load(std::sync::atomic::Ordering::Acquire) & libc::TP_STATUS_USER != 0
    }

    /// Waits up to `timeout_ms` for a frame; true when one is there.
    pub fn wait(&self, timeout_ms: i32) -> bool {
        if self.ready() {
            return true;
        }
        let mut p = libc::pollfd {
            fd: self.sock.fd.as_raw_fd(),
            events: libc::POLLIN | libc::POLLERR,
            revents: 0,
        };
        // SAFETY: poll(2) on one valid pollfd.
        let _ = unsafe { libc::poll(&mut p, 1, timeout_ms) };
        self.ready()
    }

    /// Lends the next frame (its 802.1Q tag put back) to `f`, then gives the slot back to the
    /// kernel; `None` when no frame is there.
    pub fn recv_with<R>(&mut self, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
        if !self.ready() {
            return None;
        }
        let slot = self.slot();
        // SAFETY: the slot is ours (TP_STATUS_USER, read with Acquire above) until we store
        // TP_STATUS_KERNEL below, so nothing else touches its bytes meanwhile; it lies inside
        // the mapping (see `slot`) and starts with a `tpacket2_hdr`, read (copied out) before
        // the slot is borrowed as bytes, and the bytes' borrow ends before the store.
        let hdr = unsafe { slot.cast::<libc::tpacket2_hdr>().read() };
        let r = f(ring_frame(unsafe { std::slice::from_raw_parts_mut(slot, RING_FRAME) }, &hdr));
        self.status().store(libc::TP_STATUS_KERNEL, std::sync::atomic::Ordering::Release);
        self.next = (self.next + 1) % (RING_FRAMES_PER_BLOCK * RING_BLOCKS);
        Some(r)
    }
}

/// The frame in a ring slot as it was on the wire: the 802.1Q tag the kernel reported in
/// the header put back in front of the ethertype, in the room `PACKET_RESERVE` kept. A
/// header that points outside the slot gives an empty frame (which the classifier drops).
fn ring_frame<'s>(slot: &'s mut [u8], hdr: &libc::tpacket2_hdr) -> &'s [u8] {
    let (mac, len) = (usize::from(hdr.tp_mac), (hdr.tp_snaplen as usize).min(FRAME_MAX));
    if mac < size_of::<libc::tpacket2_hdr>() + TAG_ROOM || mac + len > slot.len() {
        return &[];
    }
    if hdr.tp_status & TP_STATUS_VLAN_VALID == 0 || len < 12 {
        return slot.get(mac..mac + len).unwrap_or_default();
    }
    let tpid =
        if hdr.tp_status & TP_STATUS_VLAN_TPID_VALID != 0 { hdr.tp_vlan_tpid } else { 0x8100 };
    let start = mac - TAG_ROOM;
    slot.copy_within(mac..mac + 12, start);
    let (p, t) = (tpid.to_be_bytes(), hdr.tp_vlan_tci.to_be_bytes());
    let tag = [p[0], p[1], t[0], t[1]];
    if let Some(t) = slot.get_mut(start + 12..mac + 12) {
        t.copy_from_slice(&tag);
    }
    slot.get(start..mac + len).unwrap_or_default()
}

impl Drop for RxRing {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `new`; no frame is lent out (`recv_with`
        // borrows `self` mutably for the whole loan).
        unsafe { libc::munmap(self.map.as_ptr().cast(), Self::len()) };
    }
}

/// Preallocated frames for batched sends: buffers are filled in place (by the TUN read),
/// then the frames in them, each at its own start, go out with `sendmmsg`.
///
/// At most one frame per `mmsghdr` is queued: [`SendBatch::push`] refuses the frame after
/// that, which is what makes [`SendBatch::flush`] sound.
pub struct SendBatch {
    /// The buffers; [`SendBatch::used`] of them are taken.
    pub bufs: Vec<[u8; FRAME_MAX]>,
    used: usize,
    /// (buffer, start, len) of each queued frame; never longer than `hdrs`.
    frames: Vec<(usize, usize, usize)>,
    iovs: Vec<libc::iovec>,
    hdrs: Vec<libc::mmsghdr>,
}

/// Why [`SendBatch::push`] refused a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    /// Every `mmsghdr` of the batch carries a frame already: flush first.
    #[error("send batch full")]
    Full,
    /// The buffer index or the byte range lies outside the batch's buffers.
    #[error("frame outside the send buffers")]
    OutOfRange,
}

// SAFETY: the raw pointers inside only point into the batch's own heap buffers.
unsafe impl Send for SendBatch {}

impl SendBatch {
    /// Room for `n` frames.
    pub fn new(n: usize) -> Self {
        SendBatch {
            bufs: vec![[0; FRAME_MAX]; n],
            used: 0,
            frames: Vec::with_capacity(n),
            iovs: Vec::with_capacity(n),
            // SAFETY: an all-zero mmsghdr is a valid empty header.
            hdrs: (0..n).map(|_| unsafe { std::mem::zeroed() }).collect(),
        }
    }

    /// Buffers taken so far; the free ones are `bufs[used()..]`.
    pub fn used(&self) -> usize {
        self.used
    }

    /// Marks `n` more buffers as taken.
    pub fn take(&mut self, n: usize) {
        self.used = self.used.saturating_add(n).min(self.bufs.len());
    }

    /// Queues the frame at `bufs[buf][start..start + len]`, or refuses it when the batch
    /// holds as many frames as it has headers, or the range is outside the buffers.
    pub fn push(&mut self, buf: usize, start: usize, len: usize) -> Result<(), PushError> {
        if self.frames.len() >= self.hdrs.len() {
            return Err(PushError::Full);
        }
        let end = start.checked_add(len).ok_or(PushError::OutOfRange)?;
        if buf >= self.bufs.len() || end > FRAME_MAX {
            return Err(PushError::OutOfRange);
        }
        self.frames.push((buf, start, len));
        Ok(())
    }

    /// How many frames wait.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// Whether no frame waits.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// The `i`th queued frame (empty past the last).
    pub fn frame(&self, i: usize) -> &[u8] {
        let Some(&(b, start, len)) = self.frames.get(i) else { return &[] };
        self.bufs.get(b).and_then(|f| f.get(start..start + len)).unwrap_or(&[])
    }

    /// Sends every queued frame with as few `sendmmsg` calls as the kernel allows, and frees
    /// all buffers.
    pub fn flush(&mut self, sock: &PacketSocket) -> io::Result<()> {
        self.iovs.clear();
        for &(b, start, len) in &self.frames {
            // `bufs` is public: a frame whose buffer has gone since `push` is dropped.
            let Some(frame) = self.bufs.get_mut(b).and_then(|f| f.get_mut(start..start + len))
            else {
                continue;
            };
            self.iovs.push(libc::iovec { iov_base: frame.as_mut_ptr().cast(), iov_len: len });
        }
        let n = self.iovs.len().min(self.hdrs.len());
        for (h, iov) in self.hdrs.iter_mut().zip(self.iovs.iter_mut()) {
            h.msg_hdr.msg_iov = iov;
            h.msg_hdr.msg_iovlen = 1;
        }
        let mut sent = 0;
        let mut result = Ok(());
        while sent < n {
            // SAFETY: `sent < n <= hdrs.len()`, so the kernel reads the `n - sent` headers
            // `hdrs[sent..n]`, all inside the allocation. Each was pointed just above at its own
            // `iovs[i]`, which covers a range of a `bufs` element checked by `get_mut`; neither
            // vector is touched until the call returns.
            let rc = unsafe {
                libc::sendmmsg(
                    sock.fd.as_raw_fd(),
                    self.hdrs.as_mut_ptr().add(sent),
                    (n - sent) as u32,
                    0,
                )
            };
            if rc <= 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                // ENOBUFS and the like: the frames are dropped, as a full queue would.
                result = Err(e);
                break;
            }
            sent += rc as usize;
        }
        self.frames.clear();
        self.used = 0;
        result
    }
}

/// A TUN device with virtio-net headers (IFF_VNET_HDR) and TCP segmentation offload on
/// where the kernel allows it, non-blocking: reads hand over GSO super-packets that
/// [`tun_rs`] cuts into MTU-sized segments (checksums fixed), and writes coalesce segments of
/// one flow (GRO) into one system call.
pub struct Tun {
    dev: tun_rs::SyncDevice,
}

impl Tun {
    /// Creates (or attaches to) the TUN device `name` in the calling thread's namespace.
    pub fn open(name: &str) -> io::Result<Self> {
        if name.is_empty() || name.len() > 15 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "interface name"));
        }
        let dev = tun_rs::DeviceBuilder::new().name(name).offload(true).build_sync()?;
        dev.set_nonblocking(true)?;
        Ok(Tun { dev })
    }

    /// The device, for `recv_multiple` / `send_multiple`.
    pub fn device(&self) -> &tun_rs::SyncDevice {
        &self.dev
    }

    /// Whether TCP segmentation offload is on (virtio-net headers in use).
    pub fn offload(&self) -> bool {
        self.dev.tcp_gso()
    }

    /// Waits until a packet can be read or `timeout_ms` passes; true if readable.
    pub fn wait_readable(&self, timeout_ms: i32) -> bool {
        let mut p = libc::pollfd { fd: self.dev.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        // SAFETY: poll(2) on one valid pollfd.
        let rc = unsafe { libc::poll(&mut p, 1, timeout_ms) };
        rc > 0 && p.revents & libc::POLLIN != 0
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;
    use crate::wire::session::{Classified, SessionKey, classify, session_frame};
    use crate::wire::{ETHERTYPE_DISCOVERY, ETHERTYPE_SESSION, EthernetHeader, Mac, Vlan, proto};

    /// What the kernel gives a packet socket's filter: the frame with a leading 802.1Q tag
    /// moved out of the data (`skb_vlan_untag`, before any packet tap runs), and the values
    /// the ancillary loads read.
    struct Skb {
        data: Vec<u8>,
        pkttype: u32,
        vlan_tci: Option<u16>,
    }

    const PACKET_HOST: u32 = 0;
    const PACKET_BROADCAST: u32 = 1;
    const PACKET_MULTICAST: u32 = 2;
    const PACKET_OTHERHOST: u32 = 3;
    const PACKET_OUTGOING: u32 = 4;

    impl Skb {
        /// `wire` as received on an interface whose address is `OURS`.
        fn received(wire: &[u8]) -> Self {
            let pkttype = match wire.get(..6) {
                Some(d) if d == OURS => PACKET_HOST,
                Some(d) if d == [0xff; 6] => PACKET_BROADCAST,
                Some(d) if d[0] & 1 == 1 => PACKET_MULTICAST,
                _ => PACKET_OTHERHOST,
            };
            Skb::new(wire, pkttype)
        }

        fn new(wire: &[u8], pkttype: u32) -> Self {
            if wire.len() >= 18 && wire[12..14] == [0x81, 0x00] {
                let mut data = wire[..12].to_vec();
                data.extend_from_slice(&wire[16..]);
                let tci = u16::from_be_bytes([wire[14], wire[15]]);
                return Skb { data, pkttype, vlan_tci: Some(tci) };
            }
            Skb { data: wire.to_vec(), pkttype, vlan_tci: None }
        }
    }

    /// The checks of the kernel's `bpf_check_classic` that a hand-assembled program can fail:
    /// a length of 1 to `BPF_MAXINSNS`, every jump inside the program, a return at the end.
    fn check(prog: &[libc::sock_filter]) {
        assert!((1..=4096).contains(&prog.len()), "program length {}", prog.len());
        for (pc, ins) in prog.iter().enumerate() {
            if ins.code & 0x07 == 0x05 {
                let far = if ins.code == 0x05 { ins.k as usize } else { ins.jt.max(ins.jf).into() };
                assert!(pc + 1 + far < prog.len(), "instruction {pc} jumps out of the program");
            }
        }
        assert_eq!(prog.last().unwrap().code & 0x07, 0x06, "the program must end in a return");
    }

    /// Runs a classic BPF program on `skb` as the kernel does; the result is how many bytes
    /// of the frame the socket gets (0: dropped). A load past the end of the data drops the
    /// frame, as in the kernel. Opcodes or ancillary loads this does not know fail the test.
    fn run(prog: &[libc::sock_filter], skb: &Skb) -> u32 {
        check(prog);
        let mut a = 0u32;
        let mut pc = 0;
        loop {
            let ins = prog[pc];
            pc += 1;
            let cond = match ins.code {
                0x20 | 0x28 | 0x30 => {
                    // BPF_LD | BPF_W/H/B | BPF_ABS
                    match load(skb, ins.code, ins.k) {
                        Some(v) => a = v,
                        None => return 0,
                    }
                    continue;
                }
                0x44 => {
                    a |= ins.k; // BPF_ALU | BPF_OR | BPF_K
                    continue;
                }
                0x54 => {
                    a &= ins.k; // BPF_ALU | BPF_AND | BPF_K
                    continue;
                }
                0x05 => {
                    pc += ins.k as usize; // BPF_JMP | BPF_JA
                    continue;
                }
                0x15 => a == ins.k,     // BPF_JMP | BPF_JEQ | BPF_K
                0x25 => a > ins.k,      // BPF_JMP | BPF_JGT | BPF_K
                0x35 => a >= ins.k,     // BPF_JMP | BPF_JGE | BPF_K
                0x45 => a & ins.k != 0, // BPF_JMP | BPF_JSET | BPF_K
                0x06 => return ins.k,   // BPF_RET | BPF_K
                0x16 => return a,       // BPF_RET | BPF_A
                code => panic!("opcode {code:#06x} at {}: teach the interpreter", pc - 1),
            };
            pc += usize::from(if cond { ins.jt } else { ins.jf });
        }
    }

    fn load(skb: &Skb, code: u16, k: u32) -> Option<u32> {
        const SKF_AD_OFF: u32 = 0xffff_f000;
        if k >= SKF_AD_OFF {
            return Some(match k - SKF_AD_OFF {
                4 => skb.pkttype,                        // SKF_AD_PKTTYPE
                44 => skb.vlan_tci.map_or(0, u32::from), // SKF_AD_VLAN_TAG
                48 => u32::from(skb.vlan_tci.is_some()), // SKF_AD_VLAN_TAG_PRESENT
                other => panic!("ancillary load {other}: teach the interpreter"),
            });
        }
        assert!(k < 0x8000_0000, "negative (SKF_NET_OFF/SKF_LL_OFF) loads are not modelled");
        let size = match code & 0x18 {
            0x00 => 4,
            0x08 => 2,
            _ => 1,
        };
        let bytes = skb.data.get(k as usize..k as usize + size)?;
        Some(bytes.iter().fold(0, |v, &b| v << 8 | u32::from(b)))
    }

    const OURS: Mac = [0x02, 0x00, 0x5e, 0x10, 0x00, 0x01];
    const PEER: Mac = [0x02, 0x00, 0x5e, 0x10, 0x00, 0x02];
    const VLAN: u16 = 7;

    /// A frame from `PEER` to `dst`, padded to the Ethernet minimum of 60 bytes.
    fn frame(dst: Mac, vlan: Option<u16>, ethertype: u16, payload: &[u8]) -> Vec<u8> {
        let h = EthernetHeader { dst, src: PEER, vlan: vlan.map(Vlan::id), ethertype };
        let mut f = vec![0; h.buffer_len()];
        h.emit(&mut f).unwrap();
        f.extend_from_slice(payload);
        f.resize(f.len().max(60), 0);
        f
    }

    /// A PPPoE Discovery packet with `code` and no tags (RFC 2516 §4).
    fn discovery(code: u8) -> [u8; 6] {
        [0x11, code, 0x00, 0x00, 0x00, 0x00]
    }

    /// The session frame the peer sends us on `session_id` (VLAN `vlan`), carrying `protocol`.
    fn session(vlan: Option<u16>, session_id: u16, protocol: u16) -> Vec<u8> {
        let key = SessionKey { local: PEER, peer: OURS, vlan: vlan.map(Vlan::id), session_id };
        let mut f = session_frame(&key, protocol, &[0x45, 0, 0, 20]).unwrap();
        f.resize(f.len().max(60), 0);
        f
    }

    fn accepts(prog: &[libc::sock_filter], wire: &[u8]) -> bool {
        run(prog, &Skb::received(wire)) != 0
    }

    #[test]
    fn filter_passes_discovery_for_us_only() {
        for vlan in [None, Some(VLAN)] {
            // The client's discovery socket (`driver/client.rs`).
            let p = filter_program(OURS, ETHERTYPE_DISCOVERY, vlan, false);
            for code in [0x07, 0x65, 0xa7] {
                // PADO, PADS, PADT to us
                assert!(accepts(&p, &frame(OURS, vlan, ETHERTYPE_DISCOVERY, &discovery(code))));
            }
            // Another host's PADI, broadcast: not for a client.
            assert!(!accepts(&p, &frame([0xff; 6], vlan, ETHERTYPE_DISCOVERY, &discovery(0x09))));
            // The access concentrator's discovery socket (`driver/ac.rs`) takes broadcasts.
            let p = filter_program(OURS, ETHERTYPE_DISCOVERY, vlan, true);
            assert!(accepts(&p, &frame([0xff; 6], vlan, ETHERTYPE_DISCOVERY, &discovery(0x09))));
            assert!(accepts(&p, &frame(OURS, vlan, ETHERTYPE_DISCOVERY, &discovery(0x19))));
            assert!(!accepts(&p, &frame(PEER, vlan, ETHERTYPE_DISCOVERY, &discovery(0x19))));
        }
    }

    #[test]
    fn filter_passes_our_session_frames() {
        for vlan in [None, Some(VLAN)] {
            let p = filter_program(OURS, ETHERTYPE_SESSION, vlan, false);
            for protocol in [proto::LCP, proto::IPV4, proto::IPV6] {
                assert!(accepts(&p, &session(vlan, 0x0abc, protocol)));
            }
            // The priority bits of the tag do not matter, only the VLAN id.
            if let Some(id) = vlan {
                let mut f = session(vlan, 0x0abc, proto::IPV4);
                f[14] |= 0xb0; // PCP 5, DEI
                assert!(accepts(&p, &f), "VLAN {id} with priority bits");
            }
        }
    }

    #[test]
    fn filter_drops_other_ethertypes_and_the_other_pppoe_stage() {
        for vlan in [None, Some(VLAN)] {
            let disc = filter_program(OURS, ETHERTYPE_DISCOVERY, vlan, true);
            let sess = filter_program(OURS, ETHERTYPE_SESSION, vlan, false);
            for ethertype in [0x0800, 0x0806, 0x86dd, 0x88cc, 0x8100] {
                let f = frame(OURS, vlan, ethertype, &[0x45, 0, 0, 20]);
                assert!(!accepts(&disc, &f) && !accepts(&sess, &f), "ethertype {ethertype:#06x}");
            }
            assert!(!accepts(&disc, &session(vlan, 0x0abc, proto::IPV4)));
            assert!(!accepts(&sess, &frame(OURS, vlan, ETHERTYPE_DISCOVERY, &discovery(0xa7))));
        }
    }

    #[test]
    fn filter_drops_frames_for_other_addresses() {
        let p = filter_program(OURS, ETHERTYPE_SESSION, None, true);
        let mut near = OURS;
        near[5] ^= 1; // the first four bytes ours, the last two not
        let mut far = OURS;
        far[0] ^= 0x10; // the last two bytes ours, the first four not
        let half_broadcast = [0xff, 0xff, 0xff, 0xff, 0x00, 0x01];
        for dst in [PEER, near, far, half_broadcast, [0x01, 0x80, 0xc2, 0, 0, 0x0e]] {
            let f = frame(dst, None, ETHERTYPE_SESSION, &[0x11, 0, 0x0a, 0xbc, 0, 2, 0xc0, 0x21]);
            assert!(!accepts(&p, &f), "dst {dst:02x?}");
        }
    }

    #[test]
    fn filter_drops_frames_we_send() {
        let p = filter_program(OURS, ETHERTYPE_DISCOVERY, None, true);
        let padi = frame([0xff; 6], None, ETHERTYPE_DISCOVERY, &discovery(0x09));
        assert!(accepts(&p, &padi));
        assert_eq!(run(&p, &Skb::new(&padi, PACKET_OUTGOING)), 0);
    }

    #[test]
    fn filter_drops_other_vlans() {
        let tagged = filter_program(OURS, ETHERTYPE_SESSION, Some(VLAN), false);
        let untagged = filter_program(OURS, ETHERTYPE_SESSION, None, false);
        assert!(!accepts(&tagged, &session(None, 0x0abc, proto::IPV4)));
        assert!(!accepts(&tagged, &session(Some(VLAN + 1), 0x0abc, proto::IPV4)));
        assert!(!accepts(&tagged, &session(Some(VLAN | 0x100), 0x0abc, proto::IPV4)));
        assert!(!accepts(&untagged, &session(Some(VLAN), 0x0abc, proto::IPV4)));
        assert!(!accepts(&untagged, &session(Some(0), 0x0abc, proto::IPV4)), "priority tag");
    }

    #[test]
    fn filter_drops_truncated_frames() {
        let p = filter_program(OURS, ETHERTYPE_SESSION, None, false);
        let f = session(None, 0x0abc, proto::IPV4);
        for len in 0..14 {
            assert!(!accepts(&p, &f[..len]), "{len} bytes");
        }
        // Past the Ethernet header the filter reads nothing: the PPPoE header is `classify`'s.
        assert!(accepts(&p, &f[..14]));
        for len in [14, 20, 25] {
            assert!(matches!(classify(&f[..len], &key(None)), Classified::Malformed(_)), "{len}");
        }
    }

    /// Our side of the session of `session()` frames.
    fn key(vlan: Option<u16>) -> SessionKey {
        SessionKey { local: OURS, peer: PEER, vlan: vlan.map(Vlan::id), session_id: 0x0abc }
    }

    #[test]
    fn filter_passes_other_session_ids_for_classify_to_drop() {
        // The filter knows no session id (the access concentrator has many on one socket);
        // `classify` sorts them out.
        for vlan in [None, Some(VLAN)] {
            let p = filter_program(OURS, ETHERTYPE_SESSION, vlan, false);
            let ours = session(vlan, 0x0abc, proto::IPV4);
            let other = session(vlan, 0x0abd, proto::IPV4);
            assert!(accepts(&p, &ours) && accepts(&p, &other));
            assert!(matches!(classify(&ours, &key(vlan)), Classified::Data { .. }));
            assert_eq!(classify(&other, &key(vlan)), Classified::NotOurs);
        }
    }

    #[test]
    fn push_refuses_more_frames_than_headers() {
        let mut batch = SendBatch::new(2);
        assert_eq!(batch.push(0, 0, 60), Ok(()));
        assert_eq!(batch.push(1, 4, 60), Ok(()));
        // A third frame would have sendmmsg read a third mmsghdr, past the two allocated.
        assert_eq!(batch.push(1, 0, 60), Err(PushError::Full));
        assert_eq!(batch.push(0, 100, 1), Err(PushError::Full));
        assert_eq!(batch.len(), 2);
        assert_eq!(batch.frame(1).len(), 60);
        assert!(batch.frame(2).is_empty());
    }

    #[test]
    fn push_refuses_ranges_outside_the_buffers() {
        let mut batch = SendBatch::new(2);
        assert_eq!(batch.push(2, 0, 60), Err(PushError::OutOfRange));
        assert_eq!(batch.push(0, FRAME_MAX - 59, 60), Err(PushError::OutOfRange));
        assert_eq!(batch.push(0, usize::MAX, 2), Err(PushError::OutOfRange));
        assert!(batch.is_empty());
        assert_eq!(batch.push(0, 0, FRAME_MAX), Ok(()));
        assert_eq!(batch.frame(0).len(), FRAME_MAX);
    }

    /// A ring slot as the kernel fills it: the header, then `wire` at `mac` (the tag, if
    /// the frame had one, already taken out and reported in the header).
    fn slot(wire: &[u8], mac: usize, vlan: Option<(u16, u16)>) -> (Vec<u8>, libc::tpacket2_hdr) {
        let mut slot = vec![0xee; RING_FRAME];
        // SAFETY: an all-zero tpacket2_hdr is valid.
        let mut hdr: libc::tpacket2_hdr = unsafe { std::mem::zeroed() };
        hdr.tp_status = libc::TP_STATUS_USER;
        let untagged: Vec<u8> = match vlan {
            Some(_) => [&wire[..12], &wire[16..]].concat(),
            None => wire.to_vec(),
        };
        if let Some((tpid, tci)) = vlan {
            hdr.tp_status |= TP_STATUS_VLAN_VALID | TP_STATUS_VLAN_TPID_VALID;
            hdr.tp_vlan_tpid = tpid;
            hdr.tp_vlan_tci = tci;
        }
        hdr.tp_mac = mac as u16;
        hdr.tp_snaplen = untagged.len() as u32;
        hdr.tp_len = untagged.len() as u32;
        slot[mac..mac + untagged.len()].copy_from_slice(&untagged);
        (slot, hdr)
    }

    #[test]
    fn ring_frame_puts_the_vlan_tag_back_in_front_of_the_ethertype() {
        let wire = session(Some(6), 0x1234, proto::IPV4);
        let (mut s, hdr) = slot(&wire, 66, Some((0x8100, 6)));
        assert_eq!(ring_frame(&mut s, &hdr), &wire[..], "the frame as it was on the wire");
        let wire = session(None, 0x1234, proto::IPV4);
        let (mut s, hdr) = slot(&wire, 66, None);
        assert_eq!(ring_frame(&mut s, &hdr), &wire[..]);
        // 802.1ad outer tag: the TPID the kernel reported, not 0x8100.
        let mut wire = session(Some(6), 0x1234, proto::IPV4);
        wire[12..14].copy_from_slice(&0x88a8u16.to_be_bytes());
        let (mut s, hdr) = slot(&wire, 66, Some((0x88a8, 6)));
        assert_eq!(ring_frame(&mut s, &hdr), &wire[..]);
    }

    #[test]
    fn ring_frame_refuses_a_header_that_points_outside_the_slot() {
        let wire = session(Some(6), 0x1234, proto::IPV4);
        // No room for the tag in front of the frame (the reserve was not honoured).
        let (mut s, hdr) = slot(&wire, size_of::<libc::tpacket2_hdr>(), Some((0x8100, 6)));
        assert_eq!(ring_frame(&mut s, &hdr), &[] as &[u8]);
        // The frame runs past the slot.
        let (mut s, mut hdr) = slot(&wire, 66, None);
        hdr.tp_mac = (RING_FRAME - 10) as u16;
        assert_eq!(ring_frame(&mut s, &hdr), &[] as &[u8]);
        // A snap length past FRAME_MAX is cut to it, never read past the slot.
        let (mut s, mut hdr) = slot(&wire, 66, None);
        hdr.tp_snaplen = u32::MAX;
        assert_eq!(ring_frame(&mut s, &hdr).len(), FRAME_MAX);
    }
}
