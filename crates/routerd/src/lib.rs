//! `routerd`: the router daemon, and `routerctl`.
//!
//! - [`config`]: one TOML file describing the whole router (role, WAN, LANs, DNS, firewall,
//!   DMZ, control socket), parsed and validated completely before anything is applied, every
//!   error naming the key and the line; `routerd check --config FILE`.
//! - [`run`]: the services, started in dependency order under the [`supervisor`] (restart with
//!   back-off), wired by the [`bus`] (`watch` state and broadcast events); the config-to-service
//!   mappings are pure functions in [`wiring`]; SIGHUP reloads by difference ([`reload`]).
//! - [`status`]: what `routerctl status|wan|leases|prefixes|events` reads from the control
//!   socket.

pub mod bus;
pub mod config;
pub mod names;
pub mod reload;
pub mod run;
pub mod service;
pub mod status;
pub mod supervisor;
pub mod wiring;
