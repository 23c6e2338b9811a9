//! A small seeded PRNG (SplitMix64). The machine takes its seed from its config, so a run is
//! reproducible; nothing here reads the thread RNG or the clock.

/// SplitMix64 (Steele, Lea, Flood 2014): fast, tiny, and good enough for jitter and xids.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`; 0 when `n` is 0.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next_u64().checked_rem(n).unwrap_or(0)
    }

    /// A fresh transaction id (RFC 2131 §2: "a random number chosen by the client").
    pub(crate) fn xid(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }
}
