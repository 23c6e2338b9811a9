//! A small seeded generator (SplitMix64) for magic numbers, Host-Uniq, challenges, session ids
//! and interface identifiers. The machines never use a thread or OS RNG: the seed comes in
//! their config, so every test run is reproducible. The driver seeds it from the OS.

/// SplitMix64 (Steele, Lea, Flood 2014): fast, full-period, good enough for protocol nonces.
/// Not a CSPRNG: a deployment that wants unpredictable CHAP challenges seeds it from
/// `getrandom` per session.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// The next 32 random bits.
    pub fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    /// A non-zero value (magic numbers and interface identifiers must not be zero).
    pub fn non_zero_u64(&mut self) -> u64 {
        loop {
            let v = self.next_u64();
            if v != 0 {
                return v;
            }
        }
    }

    /// Fills `buf` with random bytes.
    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let bytes = self.next_u64().to_be_bytes();
            for (dst, src) in chunk.iter_mut().zip(bytes) {
                *dst = src;
            }
        }
    }

    /// A derived generator for a sub-machine, so streams do not overlap.
    pub fn fork(&mut self) -> Rng {
        Rng(self.next_u64())
    }
}
