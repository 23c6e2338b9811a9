//! The machine's seeded generator ([`splitmix::Rng`]; the seed comes from the config) and the
//! transaction id RFC 2131 asks of it.

pub(crate) use splitmix::Rng;

/// RFC 2131's draw.
pub(crate) trait RngExt {
    /// A fresh transaction id (RFC 2131 §2: "a random number chosen by the client").
    fn xid(&mut self) -> u32;
}

impl RngExt for Rng {
    fn xid(&mut self) -> u32 {
        self.next_u32()
    }
}
