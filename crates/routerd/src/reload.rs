//! SIGHUP: what a new configuration changes, service by service. A reload applies a valid
//! new configuration by difference (the services whose part changed are restarted with
//! it; the firewall and the DNS upstreams follow the configuration by themselves), or is
//! refused as a whole, with the reason, when it changes what only a restart can change.

use crate::config::Config;
use crate::service::ServiceId;

/// What a reload does.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// Services to restart with the new configuration.
    pub restart: Vec<ServiceId>,
    /// What changed, for the log (`firewall`, `lan[lan].dhcp4`, ...).
    pub changed: Vec<String>,
}

/// The plan from `old` to `new`, or why `new` cannot be applied without a restart.
pub fn plan(old: &Config, new: &Config) -> Result<Plan, String> {
    let needs_restart =
        |key: &str| Err(format!("{key} changed: only a restart of routerd applies that"));
    if old.role != new.role {
        return needs_restart("role");
    }
    if old.state_dir != new.state_dir {
        return needs_restart("state_dir");
    }
    if old.control != new.control {
        return needs_restart("control");
    }
    if old.dmz != new.dmz {
        return needs_restart("dmz");
    }

    let names = |c: &Config| c.lan.iter().map(|l| l.get_ref().name.clone()).collect::<Vec<_>>();
    if names(old) != names(new) {
        return Err(format!(
            "the LANs changed ({:?} -> {:?}): adding or removing a LAN needs a restart",
            names(old),
            names(new)
        ));
    }
    let mut p = Plan::default();
    for (o, n) in old.lan.iter().zip(&new.lan) {
        let (o, n) = (o.get_ref(), n.get_ref());
        let key = |k: &str| format!("lan[{}].{k}", o.name);
        if o.interface != n.interface {
            return needs_restart(&key("interface"));
        }
        if o.ipv4 != n.ipv4 {
            return needs_restart(&key("ipv4"));
        }
        if o.ula != n.ula {
            return needs_restart(&key("ula"));
        }
        if o.subnet_id != n.subnet_id {
            return needs_restart(&key("subnet_id"));
        }
        if o.dhcp4.is_some() != n.dhcp4.is_some() {
            return needs_restart(&key("dhcp4"));
        }
        if o.dhcp4 != n.dhcp4 || o.reservations != n.reservations {
            p.changed.push(key("dhcp4"));
            p.restart.push(ServiceId::Dhcp4(o.name.clone()));
        }
        if o.dhcp6 != n.dhcp6 {
            let on = |l: &crate::config::Lan| {
                (l.ula.is_some() || l.subnet_id.is_some())
                    && l.dhcp6.as_ref().is_some_and(|d| d.mode != crate::config::Dhcp6Mode::Off)
            };
            if on(o) != on(n) {
                return needs_restart(&key("dhcp6.mode"));
            }
            p.changed.push(key("dhcp6"));
            p.restart.push(ServiceId::Ra(o.name.clone()));
            if on(n) {
                p.restart.push(ServiceId::Dhcp6(o.name.clone()));
            }
        }
    }
    // The extra links are their own services: a change there does not redial the internet.
    let names =
        |c: &Config| c.wan.extra.iter().map(|x| x.get_ref().name.clone()).collect::<Vec<_>>();
    if names(old) != names(new) {
        return needs_restart("wan.extra (adding, removing or renaming a link)");
    }
    for (o, n) in old.wan.extra.iter().zip(&new.wan.extra) {
        if o.get_ref() != n.get_ref() {
            p.changed.push(format!("wan.extra {}", n.get_ref().name));
            p.restart.push(ServiceId::Extra(n.get_ref().name.clone()));
        }
    }
    if old.igmp.is_some() != new.igmp.is_some() {
        return needs_restart("igmp (adding or removing the IGMP proxy)");
    }
    if old.igmp.as_ref().map(|g| g.get_ref()) != new.igmp.as_ref().map(|g| g.get_ref()) {
        p.changed.push("igmp".into());
        p.restart.push(ServiceId::Igmp);
    }
    let internet = |c: &Config| {
        let mut w = c.wan.clone();
        w.extra.clear();
        w
    };
    if internet(old) != internet(new) {
        p.changed.push("wan".into());
        p.restart.push(ServiceId::Wan);
        if old.wan.ipv6.enabled || new.wan.ipv6.enabled {
            if old.wan.ipv6.enabled != new.wan.ipv6.enabled {
                return needs_restart("wan.ipv6.enabled");
            }
            p.restart.push(ServiceId::Pd);
        }
    }
    if old.dns != new.dns {
        p.changed.push("dns".into());
        p.restart.push(ServiceId::Dns);
        if old.dns.domain != new.dns.domain {
            // RA's DNSSL and DHCPv6's domain list carry the domain.
            for l in &new.lan {
                let l = l.get_ref();
                if l.ula.is_some() || l.subnet_id.is_some() {
                    p.restart.push(ServiceId::Ra(l.name.clone()));
                    if l.dhcp6.as_ref().is_some_and(|d| d.mode != crate::config::Dhcp6Mode::Off) {
                        p.restart.push(ServiceId::Dhcp6(l.name.clone()));
                    }
                }
            }
        }
    }
    if old.firewall != new.firewall {
        p.changed.push("firewall".into());
    }
    if old.http != new.http {
        if old.http.enabled != new.http.enabled {
            return needs_restart("http.enabled");
        }
        p.changed.push("http".into());
        if new.http.enabled {
            p.restart.push(ServiceId::Http);
        }
    }
    p.restart.sort();
    p.restart.dedup();
    Ok(p)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::config::tests::example;

    fn with(f: impl FnOnce(&mut String)) -> Config {
        let (mut text, dir) = example();
        f(&mut text);
        crate::config::load(&text, &dir).expect("valid")
    }

    #[test]
    fn iptv_changes_restart_only_their_service_never_the_internet_line() {
        let iptv = crate::config::tests::IPTV;
        let a = with(|t| t.push_str(iptv));
        let b = with(|t| t.push_str(&iptv.replace("IPTV_RG", "OTHER")));
        assert_eq!(plan(&a, &b).unwrap().restart, [ServiceId::Extra("iptv".into())]);
        let c = with(|t| t.push_str(&iptv.replace("fast_leave = true", "fast_leave = false")));
        assert_eq!(plan(&a, &c).unwrap().restart, [ServiceId::Igmp]);
        let none = with(|_| {});
        assert!(plan(&none, &a).unwrap_err().contains("wan.extra"), "adding a link");
    }

    #[test]
    fn nothing_changed_restarts_nothing() {
        let a = with(|_| {});
        assert_eq!(plan(&a, &a.clone()), Ok(Plan::default()));
    }

    #[test]
    fn a_pool_change_restarts_only_that_lans_dhcp() {
        let a = with(|_| {});
        let b =
            with(|t| *t = t.replace("192.168.1.100-192.168.1.249", "192.168.1.100-192.168.1.200"));
        let p = plan(&a, &b).unwrap();
        assert_eq!(p.restart, [ServiceId::Dhcp4("lan".into())]);
    }

    #[test]
    fn a_port_forward_change_restarts_nothing_the_firewall_follows() {
        let a = with(|_| {});
        let b = with(|t| *t = t.replace("port = 443", "port = 8443"));
        let p = plan(&a, &b).unwrap();
        assert!(p.restart.is_empty());
        assert_eq!(p.changed, ["firewall"]);
    }

    #[test]
    fn wan_credentials_restart_the_wan_and_the_pd_client() {
        let a = with(|_| {});
        let b = with(|t| *t = t.replacen("password = \"internet\"", "password = \"other\"", 1));
        assert_eq!(plan(&a, &b).unwrap().restart, [ServiceId::Wan, ServiceId::Pd]);
    }

    #[test]
    fn a_delegation_change_restarts_that_lans_dhcp6_and_ra_and_turning_dhcp6_off_is_refused() {
        let a = with(|_| {});
        let b = with(|t| {
            *t = t.replace(
                r#"dhcp6 = { mode = "stateful" }"#,
                r#"dhcp6 = { mode = "stateful", delegate = { pool = 1, pool_length = 56, length = 60 } }"#,
            )
        });
        assert_eq!(
            plan(&a, &b).unwrap().restart,
            [ServiceId::Dhcp6("lan".into()), ServiceId::Ra("lan".into())]
        );
        let c = with(|t| *t = t.replace(r#"mode = "stateful""#, r#"mode = "off""#));
        assert!(plan(&a, &c).unwrap_err().contains("lan[lan].dhcp6.mode"));
    }

    #[test]
    fn readdressing_a_lan_or_moving_the_socket_is_refused_with_the_key() {
        let a = with(|_| {});
        let b = with(|t| {
            *t = t.replace("192.168.1.1/24", "192.168.2.1/24").replace("192.168.1.", "192.168.2.")
        });
        let e = plan(&a, &b).unwrap_err();
        assert!(e.contains("lan[lan].ipv4"), "{e}");
        let c = with(|t| *t = t.replace("/run/routerd/control.sock", "/run/routerd/other.sock"));
        assert!(plan(&a, &c).unwrap_err().contains("control"));
    }
}
