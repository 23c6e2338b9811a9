//! The machines' seeded generator: [`splitmix::Rng`]; the seed comes from the config.

pub(crate) use splitmix::Rng;
