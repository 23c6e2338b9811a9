//! The plan as a table: delegations of different lengths, a prefix change, two LANs, the
//! readiness gate.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use super::*;
use crate::config::tests::example;

fn config(extra_lan: bool) -> Config {
    let (mut text, dir) = example();
    if extra_lan {
        let guest = "\n[[lan]]\nname = \"guest\"\ninterface = \"eth2\"\nipv4 = \"192.168.2.1/24\"\n\
                     subnet_id = 2\ndhcp6 = { mode = \"stateless\" }\n";
        let at = text.find("[dns]").unwrap();
        text.insert_str(at, guest);
    }
    crate::config::load(&text, &dir).expect("valid")
}

fn delegated(p: &str, preferred: u32, valid: u32) -> DelegatedPrefix {
    let n: Ipv6Net = p.parse().unwrap();
    DelegatedPrefix { prefix: n.network(), len: n.prefix_len(), preferred, valid }
}

fn up() -> WanLink {
    WanLink { up: true, ..WanLink::default() }
}

fn nets(p: &SitePlan) -> Vec<String> {
    p.numbered.iter().map(|n| n.address.to_string()).collect()
}

fn ra(p: &SitePlan) -> Vec<String> {
    p.ra_prefixes.iter().map(|r| format!("{}/{} {:?}", r.prefix, r.len, r.valid)).collect()
}

#[test]
fn the_lans_64_follows_the_delegated_prefix_of_any_length() {
    let c = config(false);
    // (delegated prefix, the LAN's address from it with subnet_id 1)
    let table = [
        ("2001:db8:1000::/48", "2001:db8:1000:1::1/64"),
        ("2001:db8:1000:ab00::/56", "2001:db8:1000:ab01::1/64"),
        ("2001:db8:1000:ab10::/60", "2001:db8:1000:ab11::1/64"),
    ];
    for (prefix, address) in table {
        let d = Delegation { prefixes: vec![delegated(prefix, 3600, 7200)], confirmed: true };
        let p = plan(&c, &d, &up());
        let lan = &p.sites["lan"];
        assert_eq!(nets(lan), [address], "{prefix}");
        let net: Ipv6Net = address.parse::<Ipv6Net>().unwrap().trunc();
        assert_eq!(ra(lan)[1], format!("{} Some(7200s)", net), "{prefix}");
        assert_eq!(lan.dhcp6_prefixes, ["fd12:3456:789a:1::/64".parse().unwrap(), net], "{prefix}");
        assert_eq!(p.reverse, Some(prefix.parse::<Ipv6Net>().unwrap()), "{prefix}");
        assert!(p.uplink);
    }
}

#[test]
fn without_a_delegation_only_the_ula_is_announced_and_there_is_no_uplink() {
    let p = plan(&config(false), &Delegation::default(), &up());
    let lan = &p.sites["lan"];
    assert!(lan.numbered.is_empty());
    assert_eq!(ra(lan), ["fd12:3456:789a:1::/64 None"]);
    assert_eq!((p.uplink, p.reverse), (false, None));
    // A remembered delegation the ISP has not confirmed yet is numbered but is no uplink.
    let d = Delegation {
        prefixes: vec![delegated("2001:db8:1000::/48", 3600, 7200)],
        confirmed: false,
    };
    let p = plan(&config(false), &d, &up());
    assert_eq!(nets(&p.sites["lan"]), ["2001:db8:1000:1::1/64"]);
    assert!(!p.uplink);
    assert!(
        !plan(&config(false), &Delegation { confirmed: true, ..d }, &WanLink::default()).uplink
    );
}

#[test]
fn a_prefix_change_moves_every_lan_and_keeps_the_subnet_ids() {
    let c = config(true);
    let before =
        Delegation { prefixes: vec![delegated("2001:db8:1000::/48", 3600, 7200)], confirmed: true };
    let after =
        Delegation { prefixes: vec![delegated("2001:db8:2000::/48", 3600, 7200)], confirmed: true };
    let (a, b) = (plan(&c, &before, &up()), plan(&c, &after, &up()));
    assert_eq!(nets(&a.sites["lan"]), ["2001:db8:1000:1::1/64"]);
    assert_eq!(nets(&a.sites["guest"]), ["2001:db8:1000:2::1/64"]);
    assert_eq!(nets(&b.sites["lan"]), ["2001:db8:2000:1::1/64"]);
    assert_eq!(nets(&b.sites["guest"]), ["2001:db8:2000:2::1/64"]);
    // The guest LAN is stateless and has no ULA: RA announces its /64, DHCPv6 numbers nothing.
    assert_eq!(ra(&b.sites["guest"]), ["2001:db8:2000:2::/64 Some(7200s)"]);
    assert!(b.sites["guest"].dhcp6_prefixes.is_empty());
    assert_eq!(b.sites["guest"].interface, "eth2");
    // A renewal with other lifetimes is a new plan (the addresses get the new lifetimes).
    let renewed =
        Delegation { prefixes: vec![delegated("2001:db8:2000::/48", 1800, 3600)], confirmed: true };
    let r = plan(&c, &renewed, &up());
    assert_ne!(r, b);
    assert_eq!(r.sites["lan"].numbered[0].valid, 3600);
}

#[test]
fn a_delegated_64_is_announced_and_served_only_once_the_router_holds_its_address() {
    let d =
        Delegation { prefixes: vec![delegated("2001:db8:1000::/48", 3600, 7200)], confirmed: true };
    let lan = plan(&config(false), &d, &up()).sites["lan"].clone();
    let pending = lan.on_link(&[]);
    assert_eq!(ra(&pending), ["fd12:3456:789a:1::/64 None"], "RA before the address");
    assert_eq!(pending.dhcp6_prefixes, ["fd12:3456:789a:1::/64".parse::<Ipv6Net>().unwrap()]);
    let held = lan.on_link(&["2001:db8:1000:1::/64".parse().unwrap()]);
    assert_eq!(held, lan, "everything once the address is on the interface");
}
