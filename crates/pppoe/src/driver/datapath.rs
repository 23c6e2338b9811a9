//! The data path: one thread per direction, outside the tokio runtime, blocking batched I/O,
//! preallocated buffers, atomic counters. Control frames (LCP, auth, NCPs) go to the control
//! task through a channel; everything else goes between the TUN device and the wire here.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;

use tokio::sync::mpsc::UnboundedSender;

use super::sys::{PacketSocket, RecvBatch, RxRing, SendBatch, Tun};
use crate::mss;
use crate::wire::session::{Classified, DATA_HEADER_MAX, SessionKey, classify, write_data_header};
use crate::wire::{EthernetHeader, SessionHeader, ip, proto};

/// Frames per system call.
const BATCH: usize = 64;
/// Send buffers: room for a few GSO super-packets, each cut into up to 128 segments.
const TX_BUFS: usize = 512;
/// Segments one TUN read may turn into (64 KiB at the smallest MSS the kernel uses).
const GSO_MAX_SEGS: usize = 128;
/// The virtio-net header in front of each packet written to the TUN device.
const VNET: usize = tun_rs::VIRTIO_NET_HDR_LEN;

/// Data path counters (a status command reads them).
#[derive(Debug, Default)]
pub struct Counters {
    /// IP packets from the wire written to the TUN device.
    pub rx_packets: AtomicU64,
    /// Their bytes.
    pub rx_bytes: AtomicU64,
    /// IP packets from the TUN device sent on the wire.
    pub tx_packets: AtomicU64,
    /// Their bytes.
    pub tx_bytes: AtomicU64,
    /// Frames handed to the control task.
    pub control_frames: AtomicU64,
    /// Frames for no session of ours, or unparseable.
    pub dropped_frames: AtomicU64,
    /// Packets from the TUN device with no session to carry them, or too large.
    pub dropped_packets: AtomicU64,
    /// TCP SYNs whose MSS was lowered.
    pub mss_clamped: AtomicU64,
}

/// One session the data path carries.
#[derive(Debug, Clone)]
pub struct PathSession {
    /// Its wire identity.
    pub key: SessionKey,
    /// Its MTU (for MSS clamping and the size check).
    pub mtu: u16,
    /// Data frames received, for the echo keepalive ("a busy link is not dead").
    pub rx: Arc<AtomicU64>,
}

/// The sessions the data path knows, shared with the control task.
#[derive(Debug, Default)]
pub struct Sessions {
    by_id: HashMap<u16, PathSession>,
    /// The session that carries everything from the TUN device (the client's one session).
    default: Option<u16>,
    /// Per-destination routes (the access concentrator's many sessions).
    v4: HashMap<Ipv4Addr, u16>,
    v6: Vec<(Ipv6Addr, u8, u16)>,
}

impl Sessions {
    /// Adds or replaces a session; `default` makes it carry all TUN traffic.
    pub fn insert(&mut self, s: PathSession, default: bool) {
        let id = s.key.session_id;
        if default {
            self.default = Some(id);
        }
        self.by_id.insert(id, s);
    }

    /// Routes packets to `addr` into session `id`.
    pub fn route_v4(&mut self, addr: Ipv4Addr, id: u16) {
        self.v4.insert(addr, id);
    }

    /// Routes packets into `prefix/len` into session `id`.
    pub fn route_v6(&mut self, prefix: Ipv6Addr, len: u8, id: u16) {
        self.v6.retain(|(p, l, _)| (*p, *l) != (prefix, len));
        self.v6.push((prefix, len, id));
    }

    /// Forgets a session and its routes.
    pub fn remove(&mut self, id: u16) {
        self.by_id.remove(&id);
        if self.default == Some(id) {
            self.default = None;
        }
        self.v4.retain(|_, s| *s != id);
        self.v6.retain(|(_, _, s)| *s != id);
    }

    fn for_packet(&self, pkt: &[u8]) -> Option<&PathSession> {
        let id = match self.default {
            Some(id) => id,
            None => match ip::dst_addr(pkt)? {
                IpAddr::V4(a) => *self.v4.get(&a)?,
                IpAddr::V6(a) => self
                    .v6
                    .iter()
                    .filter(|(p, l, _)| in_prefix(a, *p, *l))
                    .max_by_key(|(_, l, _)| *l)
                    .map(|(_, _, id)| *id)?,
            },
        };
        self.by_id.get(&id)
    }
}

fn in_prefix(a: Ipv6Addr, p: Ipv6Addr, len: u8) -> bool {
    let mask = u128::MAX.checked_shl(128 - u32::from(len.min(128))).unwrap_or(0);
    u128::from(a) & mask == u128::from(p) & mask
}

/// What the two threads share.
pub struct DataPath {
    /// The sessions.
    pub sessions: Arc<RwLock<Sessions>>,
    /// The counters.
    pub counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl DataPath {
    /// Starts the receive thread (wire → TUN, control frames to `control`) and the transmit
    /// thread (TUN → wire).
    pub fn start(
        session_sock: Arc<PacketSocket>,
        tun: Arc<Tun>,
        control: UnboundedSender<Vec<u8>>,
        counters: Arc<Counters>,
    ) -> std::io::Result<Self> {
        let sessions = Arc::new(RwLock::new(Sessions::default()));
        let stop = Arc::new(AtomicBool::new(false));
        // The ring is set up here, before the caller dials: a frame that came in before it
        // would wait in the socket's queue, which nothing reads once the ring is there (the
        // peer's first LCP Configure-Request, lost until its restart timer, 3 s, resent it).
        let ring = match super::rings().then(|| RxRing::new(session_sock.clone())) {
            Some(Ok(ring)) => Some(ring),
            Some(Err(e)) => {
                tracing::debug!("no packet ring ({e}): receiving with recvmmsg");
                None
            }
            None => None,
        };
        let rx = {
            let (s, t, ss, c, st) = (
                session_sock.clone(),
                tun.clone(),
                sessions.clone(),
                counters.clone(),
                stop.clone(),
            );
            std::thread::Builder::new()
                .name("pppoe-rx".into())
                .spawn(move || rx_loop(&s, ring, &t, &ss, &c, &control, &st))?
        };
        let tx = {
            let (s, ss, c, st) = (session_sock, sessions.clone(), counters.clone(), stop.clone());
            std::thread::Builder::new()
                .name("pppoe-tx".into())
                .spawn(move || tx_loop(&s, &tun, &ss, &c, &st))?
        };
        Ok(DataPath { sessions, counters, stop, threads: vec![rx, tx] })
    }
}

impl Drop for DataPath {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// The session id and PPP protocol of a session frame.
fn session_of(frame: &[u8]) -> Option<(u16, u16)> {
    let (_, rest) = EthernetHeader::parse(frame).ok()?;
    let (h, _) = SessionHeader::parse(rest).ok()?;
    Some((h.session_id, h.protocol))
}

fn rx_loop(
    sock: &PacketSocket,
    ring: Option<RxRing>,
    tun: &Tun,
    sessions: &RwLock<Sessions>,
    c: &Counters,
    control: &UnboundedSender<Vec<u8>>,
    stop: &AtomicBool,
) {
    // One buffer per packet of a TUN write, with room for GRO to grow the first of a flow.
    let mut out = Out {
        bufs: (0..BATCH).map(|_| Vec::with_capacity(VNET + 65536)).collect(),
        count: 0,
        gro: tun_rs::GROTable::new(),
    };
    // The mapped ring where the kernel has one ([`DataPath::start`]); else batched recvmmsg.
    let Some(mut ring) = ring else {
        let mut batch = RecvBatch::new(BATCH);
        while !stop.load(Ordering::Relaxed) {
            let Ok(n) = batch.recv(sock) else {
                continue; // timeout (to check `stop`) or a transient error
            };
            let sessions = sessions.read().unwrap_or_else(|p| p.into_inner());
            for i in 0..n {
                on_frame(batch.frame(i), &sessions, c, control, &mut out);
            }
            drop(sessions);
            out.flush(tun);
        }
        return;
    };
    while !stop.load(Ordering::Relaxed) {
        if !ring.wait(RING_WAIT_MS) {
            continue; // to check `stop`
        }
        // Frames as they come, BATCH per TUN write, the sessions looked up once per write;
        // a short write means the ring is empty: wait again.
        let sessions = sessions.read().unwrap_or_else(|p| p.into_inner());
        let mut taken = 0;
        while taken < BATCH
            && ring.recv_with(|frame| on_frame(frame, &sessions, c, control, &mut out)).is_some()
        {
            taken += 1;
        }
        drop(sessions);
        out.flush(tun);
    }
}

/// How long the receive thread waits for the ring before it looks at `stop` again.
const RING_WAIT_MS: i32 = 100;

/// The packets for the next TUN write.
struct Out {
    bufs: Vec<Vec<u8>>,
    count: usize,
    gro: tun_rs::GROTable,
}

impl Out {
    /// The next free buffer, its virtio-net header zeroed; `None` when all are taken.
    fn next(&mut self) -> Option<&mut Vec<u8>> {
        let buf = self.bufs.get_mut(self.count)?;
        buf.clear();
        buf.resize(VNET, 0);
        Some(buf)
    }

    /// Writes the packets taken so far to the TUN device.
    fn flush(&mut self, tun: &Tun) {
        if let Some(packets) = self.bufs.get_mut(..self.count).filter(|p| !p.is_empty()) {
            // Segments of one TCP flow are coalesced (GRO) and written with one system call.
            let _ = tun.device().send_multiple(&mut self.gro, packets, VNET);
        }
        self.count = 0;
    }
}

/// One received frame: a data packet of a session into `out` (MSS clamped), a control frame
/// to the control task, anything else counted and dropped.
fn on_frame(
    frame: &[u8],
    sessions: &Sessions,
    c: &Counters,
    control: &UnboundedSender<Vec<u8>>,
    out: &mut Out,
) {
    let Some((id, protocol)) = session_of(frame) else {
        c.dropped_frames.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let Some(s) = sessions.by_id.get(&id) else {
        // Not carrying data yet: LCP, authentication and the NCPs of a session that is still
        // coming up belong to the control machine, which checks them.
        if protocol == proto::IPV4 || protocol == proto::IPV6 {
            c.dropped_frames.fetch_add(1, Ordering::Relaxed);
        } else {
            c.control_frames.fetch_add(1, Ordering::Relaxed);
            let _ = control.send(frame.to_vec());
        }
        return;
    };
    match classify(frame, &s.key) {
        Classified::Data { protocol, payload } => {
            s.rx.fetch_add(1, Ordering::Relaxed);
            let Some(buf) = out.next() else { return };
            buf.extend_from_slice(payload);
            let packet = buf.get_mut(VNET..).unwrap_or_default();
            if mss::clamp(packet, protocol == proto::IPV6, s.mtu) {
                c.mss_clamped.fetch_add(1, Ordering::Relaxed);
            }
            c.rx_packets.fetch_add(1, Ordering::Relaxed);
            c.rx_bytes.fetch_add(payload.len() as u64, Ordering::Relaxed);
            out.count += 1;
        }
        Classified::Control | Classified::Discovery => {
            c.control_frames.fetch_add(1, Ordering::Relaxed);
            let _ = control.send(frame.to_vec());
        }
        Classified::NotOurs | Classified::Malformed(_) => {
            c.dropped_frames.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn tx_loop(
    sock: &PacketSocket,
    tun: &Tun,
    sessions: &RwLock<Sessions>,
    c: &Counters,
    stop: &AtomicBool,
) {
    let mut batch = SendBatch::new(TX_BUFS);
    let mut super_packet = vec![0u8; VNET + 65536];
    let mut sizes = vec![0usize; TX_BUFS];
    while !stop.load(Ordering::Relaxed) {
        if !tun.wait_readable(200) {
            continue;
        }
        let sessions = sessions.read().unwrap_or_else(|p| p.into_inner());
        // Read what is waiting (each read one packet, or one GSO super-packet cut into
        // MTU-sized segments right into the send buffers, DATA_HEADER_MAX bytes in), then send it all
        // with one sendmmsg.
        while batch.bufs.len() - batch.used() >= GSO_MAX_SEGS {
            let first = batch.used();
            let Some(free) = batch.bufs.get_mut(first..) else { break };
            let Some(lens) = sizes.get_mut(..free.len()) else { break };
            let n = match tun.device().recv_multiple(&mut super_packet, free, lens, DATA_HEADER_MAX)
            {
                Ok(n) => n,
                Err(_) => break, // WouldBlock: nothing more waiting
            };
            batch.take(n);
            for (k, &len) in lens.iter().enumerate().take(n) {
                queue_packet(&mut batch, first + k, len, &sessions, c);
            }
        }
        drop(sessions);
        if !batch.is_empty() {
            let _ = batch.flush(sock);
        }
    }
}

/// Frames the packet of `len` bytes that the TUN read put at `bufs[b][DATA_HEADER_MAX..]`
/// and queues it; only a queued packet counts as sent; one too large for its buffer, with no
/// session, or refused by the batch counts as dropped.
fn queue_packet(batch: &mut SendBatch, b: usize, len: usize, sessions: &Sessions, c: &Counters) {
    let framed = batch.bufs.get_mut(b).and_then(|buf| frame_packet(buf, len, sessions, c));
    if framed.is_some_and(|(start, flen)| batch.push(b, start, flen).is_ok()) {
        c.tx_packets.fetch_add(1, Ordering::Relaxed);
        c.tx_bytes.fetch_add(len as u64, Ordering::Relaxed);
    } else {
        c.dropped_packets.fetch_add(1, Ordering::Relaxed);
    }
}

/// Frames the packet of `len` bytes that the TUN read put at `buf[DATA_HEADER_MAX..]`: picks
/// its session, clamps its MSS and writes the session headers right in front of it. Returns
/// where the frame is in `buf` (start, length); `None` for a packet too large for its buffer
/// or with no session (dropped).
fn frame_packet(
    buf: &mut [u8],
    len: usize,
    sessions: &Sessions,
    c: &Counters,
) -> Option<(usize, usize)> {
    let (head, rest) = buf.split_at_mut_checked(DATA_HEADER_MAX)?;
    let packet = rest.get_mut(..len)?;
    let s = sessions.for_packet(packet)?;
    let v6 = packet.first().is_some_and(|b| b >> 4 == 6);
    if mss::clamp(packet, v6, s.mtu) {
        c.mss_clamped.fetch_add(1, Ordering::Relaxed);
    }
    let protocol = if v6 { proto::IPV6 } else { proto::IPV4 };
    let h = s.key.header_len();
    let start = DATA_HEADER_MAX.checked_sub(h)?;
    let written = write_data_header(head.get_mut(start..)?, &s.key, protocol, len).ok()?;
    (written == h).then_some((start, h + len))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::driver::sys::FRAME_MAX;
    use crate::wire::Vlan;

    const KEY: SessionKey = SessionKey {
        local: [2, 0, 0, 0, 0, 1],
        peer: [2, 0, 0, 0, 0, 2],
        vlan: Some(Vlan { pcp: 0, dei: false, id: 7 }),
        session_id: 0x0abc,
    };

    /// An IPv4 UDP packet 192.0.2.1 -> 198.51.100.1 of `len` bytes (header fields only).
    fn udp_v4(len: usize) -> Vec<u8> {
        let mut p = vec![0u8; len];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        p[8] = 64;
        p[9] = 17;
        p[12..16].copy_from_slice(&[192, 0, 2, 1]);
        p[16..20].copy_from_slice(&[198, 51, 100, 1]);
        p
    }

    fn one_session() -> Sessions {
        let mut s = Sessions::default();
        s.insert(PathSession { key: KEY, mtu: 1492, rx: Arc::default() }, true);
        s
    }

    /// Puts `pkt` where the TUN read would and queues it.
    fn queue(batch: &mut SendBatch, b: usize, pkt: &[u8], sessions: &Sessions, c: &Counters) {
        batch.bufs[b][DATA_HEADER_MAX..DATA_HEADER_MAX + pkt.len()].copy_from_slice(pkt);
        batch.take(1);
        queue_packet(batch, b, pkt.len(), sessions, c);
    }

    #[test]
    fn queued_packet_is_a_session_frame_and_counted() {
        let (sessions, c) = (one_session(), Counters::default());
        let mut batch = SendBatch::new(4);
        let pkt = udp_v4(100);
        queue(&mut batch, 0, &pkt, &sessions, &c);
        assert_eq!(batch.len(), 1);
        let theirs = SessionKey { local: KEY.peer, peer: KEY.local, ..KEY };
        let payload = pkt.as_slice();
        let frame = batch.frame(0);
        assert_eq!(classify(frame, &theirs), Classified::Data { protocol: proto::IPV4, payload });
        assert_eq!(c.tx_packets.load(Ordering::Relaxed), 1);
        assert_eq!(c.tx_bytes.load(Ordering::Relaxed), 100);
        assert_eq!(c.dropped_packets.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn oversized_packet_is_dropped_not_sent() {
        let (sessions, c) = (one_session(), Counters::default());
        let mut batch = SendBatch::new(4);
        // The TUN read reports more than the buffer holds past the header room.
        queue_packet(&mut batch, 0, FRAME_MAX - DATA_HEADER_MAX + 1, &sessions, &c);
        assert!(batch.is_empty());
        assert_eq!(c.tx_packets.load(Ordering::Relaxed), 0);
        assert_eq!(c.tx_bytes.load(Ordering::Relaxed), 0);
        assert_eq!(c.dropped_packets.load(Ordering::Relaxed), 1);
        // The largest packet that fits still goes.
        queue(&mut batch, 1, &udp_v4(FRAME_MAX - DATA_HEADER_MAX), &sessions, &c);
        assert_eq!((batch.len(), c.tx_packets.load(Ordering::Relaxed)), (1, 1));
    }

    #[test]
    fn packet_refused_by_a_full_batch_is_dropped_not_sent() {
        let (sessions, c) = (one_session(), Counters::default());
        let mut batch = SendBatch::new(1);
        let pkt = udp_v4(60);
        queue(&mut batch, 0, &pkt, &sessions, &c);
        queue(&mut batch, 0, &pkt, &sessions, &c);
        assert_eq!(batch.len(), 1);
        assert_eq!(c.tx_packets.load(Ordering::Relaxed), 1);
        assert_eq!(c.tx_bytes.load(Ordering::Relaxed), 60);
        assert_eq!(c.dropped_packets.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn packet_without_session_is_dropped() {
        let c = Counters::default();
        let mut batch = SendBatch::new(1);
        queue(&mut batch, 0, &udp_v4(60), &Sessions::default(), &c);
        assert!(batch.is_empty());
        assert_eq!(c.dropped_packets.load(Ordering::Relaxed), 1);
    }
}
