//! The machines' seeded generator ([`splitmix::Rng`]; the seed comes from the config) and the
//! two draws RFC 8415 asks of it.

pub(crate) use splitmix::Rng;

/// RFC 8415's draws.
pub(crate) trait RngExt {
    /// RAND of RFC 8415 §15 in thousandths: uniform in `-100..=100`, i.e. [-0.1, +0.1].
    fn rand_permille(&mut self) -> i64;
    /// A fresh transaction id (RFC 8415 §16.1).
    fn xid(&mut self) -> [u8; 3];
}

impl RngExt for Rng {
    fn rand_permille(&mut self) -> i64 {
        self.below(201) as i64 - 100
    }

    fn xid(&mut self) -> [u8; 3] {
        let [_, _, _, _, _, a, b, c] = self.next_u64().to_be_bytes();
        [a, b, c]
    }
}
