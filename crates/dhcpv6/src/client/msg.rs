//! Messages the requesting router builds, and what it reads out of Advertise and Reply.

use std::net::Ipv6Addr;
use std::time::Instant;

use dhcproto::v6::{
    DhcpOption, DhcpOptions, IANA, IAPD, IAPrefix, MessageType, ORO, OptionCode, Status,
};

use super::ClientConfig;
use crate::lease::{DelegatedPrefix, Information, Lease, LeasedAddress};
use crate::wire::{Repr, status_in};

/// What the client sends; each variant names the state it is sent from (RFC 8415 §18.2).
pub(super) enum Outgoing<'a> {
    Solicit,
    Request(&'a Offer),
    Renew(&'a Lease),
    Rebind(&'a Lease),
    Release(&'a Lease),
    InformationRequest,
}

/// A usable Advertise (RFC 8415 §18.2.9).
#[derive(Debug, Clone)]
pub(super) struct Offer {
    pub(super) server_id: Vec<u8>,
    pub(super) preference: u8,
    pub(super) ia_pd: IAPD,
    pub(super) ia_na: Option<IANA>,
}

/// Why a Reply or Advertise did not give the client a usable lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Problem {
    /// Status NoPrefixAvail, in the IA_PD or at the top level.
    NoPrefixAvail,
    /// Status NoBinding in the IA_PD (Renew/Rebind, RFC 8415 §18.2.10.1).
    NoBinding,
    /// Status UseMulticast (RFC 8415 §18.2.10).
    UseMulticast,
    /// Status UnspecFail, or any other failure status.
    Failed,
    /// No IA_PD for our IAID, or none with a usable prefix.
    Unusable,
}

/// Builds one message of an exchange.
pub(super) fn build(cfg: &ClientConfig, out: &Outgoing<'_>, xid: [u8; 3], elapsed: u16) -> Repr {
    let msg_type = match out {
        Outgoing::Solicit => MessageType::Solicit,
        Outgoing::Request(_) => MessageType::Request,
        Outgoing::Renew(_) => MessageType::Renew,
        Outgoing::Rebind(_) => MessageType::Rebind,
        Outgoing::Release(_) => MessageType::Release,
        Outgoing::InformationRequest => MessageType::InformationRequest,
    };
    let mut m = Repr::new(msg_type, xid);
    m.push(DhcpOption::ClientId(cfg.duid.clone()));
    m.push(DhcpOption::ElapsedTime(elapsed));
    match out {
        Outgoing::Request(o) => {
            m.push(DhcpOption::ServerId(o.server_id.clone()));
        }
        Outgoing::Renew(l) | Outgoing::Release(l) => {
            m.push(DhcpOption::ServerId(l.server_id.clone()));
        }
        _ => {}
    }
    // RFC 8415 §21.7: "A client MUST include an Option Request option in a Solicit, Request,
    // Renew, Rebind, or Information-request message", and SOL_MAX_RT / INF_MAX_RT in it.
    let mut oro: Vec<OptionCode> = cfg.oro.iter().map(|&c| OptionCode::from(c)).collect();
    match out {
        Outgoing::Release(_) => oro.clear(),
        Outgoing::InformationRequest => oro.push(OptionCode::InfMaxRt),
        _ => oro.push(OptionCode::SolMaxRt),
    }
    if !oro.is_empty() {
        m.push(DhcpOption::ORO(ORO { opts: oro }));
    }
    if matches!(out, Outgoing::InformationRequest) {
        return m;
    }
    push_ias(cfg, out, &mut m);
    let sends_reconf = !matches!(out, Outgoing::Release(_));
    if cfg.reconfigure_accept && sends_reconf {
        m.push(DhcpOption::ReconfAccept);
    }
    if cfg.rapid_commit && matches!(out, Outgoing::Solicit) {
        m.push(DhcpOption::RapidCommit);
    }
    m
}

/// IA_PD (and IA_NA when configured) for each kind of message.
fn push_ias(cfg: &ClientConfig, out: &Outgoing<'_>, m: &mut Repr) {
    let (ia_pd, addrs) = match out {
        Outgoing::Solicit => (hint_ia_pd(cfg), Vec::new()),
        Outgoing::Request(o) => {
            let mut ia = o.ia_pd.clone();
            ia.opts =
                ia.opts.iter().filter(|x| matches!(x, DhcpOption::IAPrefix(_))).cloned().collect();
            let addrs = o.ia_na.iter().flat_map(addresses).collect();
            (ia, addrs)
        }
        Outgoing::Renew(l) | Outgoing::Rebind(l) | Outgoing::Release(l) => {
            let opts = l.prefixes.iter().map(|p| prefix_option(p.prefix, p.len, 0, 0)).collect();
            (IAPD { id: cfg.iaid, t1: 0, t2: 0, opts }, l.addresses.clone())
        }
        Outgoing::InformationRequest => return,
    };
    m.push(DhcpOption::IAPD(ia_pd));
    if cfg.want_address {
        let opts = addrs
            .iter()
            .map(|a| {
                DhcpOption::IAAddr(dhcproto::v6::IAAddr {
                    addr: a.addr,
                    preferred_life: 0,
                    valid_life: 0,
                    opts: DhcpOptions::new(),
                })
            })
            .collect();
        m.push(DhcpOption::IANA(IANA { id: cfg.iaid, t1: 0, t2: 0, opts }));
    }
}

/// The Solicit's IA_PD: the last prefix held, else `::/hint` (RFC 8415 §18.2.1, §21.22: "a
/// client MAY include ... a prefix-length field ... and set the IPv6-prefix field to 0").
fn hint_ia_pd(cfg: &ClientConfig) -> IAPD {
    let opts = match (cfg.last_prefix, cfg.prefix_len_hint) {
        (Some((prefix, len)), _) => vec![prefix_option(prefix, len, 0, 0)],
        (None, 0) => Vec::new(),
        (None, len) => vec![prefix_option(Ipv6Addr::UNSPECIFIED, len, 0, 0)],
    };
    IAPD { id: cfg.iaid, t1: 0, t2: 0, opts: opts.into_iter().collect() }
}

/// An IA Prefix option.
pub(crate) fn prefix_option(prefix: Ipv6Addr, len: u8, preferred: u32, valid: u32) -> DhcpOption {
    DhcpOption::IAPrefix(IAPrefix {
        preferred_lifetime: preferred,
        valid_lifetime: valid,
        prefix_len: len,
        prefix_ip: prefix,
        opts: DhcpOptions::new(),
    })
}

/// Reads an Advertise (RFC 8415 §18.2.9). The caller has checked xid and Client Identifier.
pub(super) fn parse_offer(cfg: &ClientConfig, msg: &Repr) -> Result<Offer, Problem> {
    let server_id = msg.server_id().ok_or(Problem::Unusable)?.to_vec();
    let (ia_pd, _) = our_ia_pd(cfg, msg)?;
    let preference = match msg.get(OptionCode::Preference) {
        Some(DhcpOption::Preference(p)) => *p,
        _ => 0,
    };
    let ia_na = msg.opts.iter().find_map(|o| match o {
        DhcpOption::IANA(na) if na.id == cfg.iaid && status_in(&na.opts) == Status::Success => {
            Some(na.clone())
        }
        _ => None,
    });
    Ok(Offer { server_id, preference, ia_pd: ia_pd.clone(), ia_na })
}

/// Reads a Reply to Solicit (Rapid Commit), Request, Renew or Rebind (RFC 8415 §18.2.10.1).
pub(super) fn parse_lease(cfg: &ClientConfig, msg: &Repr, now: Instant) -> Result<Lease, Problem> {
    let server_id = msg.server_id().ok_or(Problem::Unusable)?.to_vec();
    let (ia, prefixes) = our_ia_pd(cfg, msg)?;
    let (t1, t2) = timers(ia.t1, ia.t2, &prefixes);
    let addresses = msg
        .opts
        .iter()
        .filter_map(|o| match o {
            DhcpOption::IANA(na) if na.id == cfg.iaid => Some(addresses(na)),
            _ => None,
        })
        .flatten()
        .collect();
    let info = information(msg);
    Ok(Lease {
        server_id,
        iaid: cfg.iaid,
        t1,
        t2,
        prefixes,
        addresses,
        dns_servers: info.dns_servers,
        domains: info.domains,
        reconfigure: cfg.reconfigure_accept && msg.has(OptionCode::ReconfAccept),
        acquired: now,
    })
}

/// Finds our IA_PD and its usable prefixes, or says why there is none.
fn our_ia_pd<'a>(
    cfg: &ClientConfig,
    msg: &'a Repr,
) -> Result<(&'a IAPD, Vec<DelegatedPrefix>), Problem> {
    match msg.status() {
        Status::Success => {}
        Status::NoPrefixAvail => return Err(Problem::NoPrefixAvail),
        Status::UseMulticast => return Err(Problem::UseMulticast),
        _ => return Err(Problem::Failed),
    }
    // RFC 8415 §21.21: "If a client receives an IA_PD with T1 greater than T2 and both T1 and
    // T2 are greater than 0, the client discards the IA_PD option".
    let ia = msg
        .ia_pds()
        .find(|ia| ia.id == cfg.iaid && !(ia.t1 > ia.t2 && ia.t2 > 0))
        .ok_or(Problem::Unusable)?;
    match status_in(&ia.opts) {
        Status::Success => {}
        Status::NoPrefixAvail => return Err(Problem::NoPrefixAvail),
        Status::NoBinding => return Err(Problem::NoBinding),
        _ => return Err(Problem::Failed),
    }
    let prefixes: Vec<DelegatedPrefix> = ia
        .opts
        .iter()
        .filter_map(|o| match o {
            // RFC 8415 §21.22: "The client MUST discard any prefixes for which the preferred
            // lifetime is greater than the valid lifetime." Valid 0 means "stop using it".
            DhcpOption::IAPrefix(p)
                if p.preferred_lifetime <= p.valid_lifetime
                    && p.valid_lifetime > 0
                    && p.prefix_len <= 128 =>
            {
                Some(DelegatedPrefix {
                    prefix: p.prefix_ip,
                    len: p.prefix_len,
                    preferred: p.preferred_lifetime,
                    valid: p.valid_lifetime,
                })
            }
            _ => None,
        })
        .collect();
    if prefixes.is_empty() {
        return Err(Problem::Unusable);
    }
    Ok((ia, prefixes))
}

/// Effective T1/T2 (RFC 8415 §14.2, §18.2.4). When the server sends 0 the client chooses:
/// 0.5 and 0.8 of the shortest preferred lifetime (or of the shortest valid lifetime when
/// every prefix is deprecated). T1 ≤ T2 ≤ the longest valid lifetime. 0xffffffff is infinity.
pub(super) fn timers(t1: u32, t2: u32, prefixes: &[DelegatedPrefix]) -> (u32, u32) {
    let min_pref = prefixes.iter().map(|p| p.preferred).filter(|&p| p > 0).min();
    let min_valid = prefixes.iter().map(|p| p.valid).min().unwrap_or(0);
    let max_valid = prefixes.iter().map(|p| p.valid).max().unwrap_or(0);
    let base = u64::from(min_pref.unwrap_or(min_valid));
    let scale = |num: u64| -> u32 {
        if base == u64::from(u32::MAX) {
            u32::MAX
        } else {
            u32::try_from(base * num / 10).unwrap_or(u32::MAX)
        }
    };
    let t1 = if t1 == 0 { scale(5) } else { t1 };
    let t2 = if t2 == 0 { scale(8) } else { t2 };
    let t2 = t2.min(max_valid);
    (t1.min(t2), t2)
}

/// Addresses from an IA_NA.
fn addresses(na: &IANA) -> Vec<LeasedAddress> {
    na.opts
        .iter()
        .filter_map(|o| match o {
            DhcpOption::IAAddr(a) if a.preferred_life <= a.valid_life && a.valid_life > 0 => {
                Some(LeasedAddress {
                    addr: a.addr,
                    preferred: a.preferred_life,
                    valid: a.valid_life,
                })
            }
            _ => None,
        })
        .collect()
}

/// DNS servers and domain search list (RFC 3646) of a Reply.
pub(super) fn information(msg: &Repr) -> Information {
    let dns_servers = match msg.get(OptionCode::DomainNameServers) {
        Some(DhcpOption::DomainNameServers(v)) => v.clone(),
        _ => Vec::new(),
    };
    let domains = match msg.get(OptionCode::DomainSearchList) {
        Some(DhcpOption::DomainSearchList(names)) => {
            names.iter().map(|n| n.to_ascii().trim_end_matches('.').to_owned()).collect()
        }
        _ => Vec::new(),
    };
    let server_id = msg.server_id().unwrap_or_default().to_vec();
    Information { server_id, dns_servers, domains }
}
