//! `routerd`: the router daemon.
//!
//! What exists so far: its configuration: one TOML file describing the whole router
//! (role, WAN, LANs, DNS, firewall, control socket), parsed and validated completely before
//! anything is applied, with errors that name the key and the line ([`config`]), and
//! `routerd check --config FILE`. The supervisor, the bus between the services and
//! `routerctl` are the next steps (see the routerd issue).

pub mod bus;
pub mod config;
pub mod reload;
pub mod run;
pub mod status;
pub mod supervisor;
pub mod wiring;
