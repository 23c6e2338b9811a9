//! A small seeded PRNG (SplitMix64). The machines take their seed from their config, so a run
//! is reproducible; nothing here reads the thread RNG or the clock.

/// SplitMix64 (Steele, Lea, Flood 2014): fast, tiny, and good enough for jitter and ids.
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

    /// RAND of RFC 8415 §15 in thousandths: uniform in `-100..=100`, i.e. [-0.1, +0.1].
    pub(crate) fn rand_permille(&mut self) -> i64 {
        self.below(201) as i64 - 100
    }

    /// A fresh transaction id (RFC 8415 §16.1).
    pub(crate) fn xid(&mut self) -> [u8; 3] {
        let [_, _, _, _, _, a, b, c] = self.next_u64().to_be_bytes();
        [a, b, c]
    }
}
