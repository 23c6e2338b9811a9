//! The machines' seeded generator for magic numbers, Host-Uniq, challenges, session ids and
//! interface identifiers: [`splitmix::Rng`]. The seed comes in the config, so every test run
//! is reproducible; the driver seeds it from the OS.

pub use splitmix::Rng;
