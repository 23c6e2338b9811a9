//! `routerd`: the router daemon, and `routerctl`.
//!
//! - [`config`]: one TOML file describing the whole router (role, WAN, LANs, DNS, firewall,
//!   DMZ, control socket), parsed and validated completely before anything is applied, every
//!   error naming the key and the line; `routerd check --config FILE`.
//! - [`run`]: the services, started in dependency order under the [`supervisor`] (restart with
//!   back-off), wired by the [`bus`] (`watch` state and broadcast events); the config-to-service
//!   mappings are pure functions in [`wiring`]; SIGHUP reloads by difference ([`reload`]).
//! - [`plan`]: the pure plan of what each LAN numbers, announces and serves, computed once
//!   from (configuration, delegation, WAN link) and published on the bus; [`service`]: the
//!   typed names and states of the supervised services.
//! - [`status`]: what `routerctl status|wan|leases|prefixes|events` reads from the control
//!   socket; [`http`]: the same status, the status page and Prometheus' `/metrics` over HTTP
//!   on the LANs.

pub mod bus;
pub mod cli;
pub mod config;
pub mod http;
pub mod logging;
pub mod names;
pub mod notify;
pub mod plan;
pub mod reload;
pub mod run;
pub mod service;
pub mod status;
pub mod supervisor;
pub mod wiring;
