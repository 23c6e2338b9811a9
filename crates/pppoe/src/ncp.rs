//! Network control protocol policies: IPCP (RFC 1332, DNS from RFC 1877) and IPv6CP
//! (RFC 5072), for the host and the access concentrator.

use std::net::Ipv4Addr;

use splitmix::Rng;

use crate::fsm::{Judgement, Policy};
use crate::wire::{IpcpOption, Ipv6cpOption};

/// Which end of IPCP we are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum IpcpRole {
    /// The subscriber: asks for an address (0.0.0.0 or the previous one) and DNS servers.
    Host {
        /// Address to ask for first (RFC 1332 §3.3: 0.0.0.0 asks the peer to choose).
        hint: Ipv4Addr,
        /// Ask for Primary/Secondary-DNS-Address (RFC 1877).
        dns: bool,
    },
    /// The access concentrator: assigns what the caller gave it.
    Ac {
        /// Our own address, requested in our Configure-Request.
        local: Ipv4Addr,
        /// The address the host gets.
        assign: Ipv4Addr,
        /// DNS servers offered (first two used).
        dns: Vec<Ipv4Addr>,
    },
}

/// IPCP's [`Policy`].
#[derive(Debug)]
pub(crate) struct IpcpPolicy {
    role: IpcpRole,
    want: Option<Ipv4Addr>,
    want_dns: [Option<Ipv4Addr>; 2],
    /// Our address, once the peer acked it.
    pub local: Ipv4Addr,
    /// The peer's address, once we acked it.
    pub peer: Ipv4Addr,
    /// DNS servers the peer acked (host) or we granted (AC).
    pub dns: [Option<Ipv4Addr>; 2],
}

impl IpcpPolicy {
    pub(crate) fn new(role: IpcpRole) -> Self {
        let mut policy = IpcpPolicy {
            role,
            want: None,
            want_dns: [None; 2],
            local: Ipv4Addr::UNSPECIFIED,
            peer: Ipv4Addr::UNSPECIFIED,
            dns: [None; 2],
        };
        policy.reset();
        policy
    }

    /// The DNS servers in force, in order.
    pub(crate) fn dns_servers(&self) -> Vec<Ipv4Addr> {
        self.dns.iter().flatten().copied().filter(|a| !a.is_unspecified()).collect()
    }

    fn offer(&self, slot: usize) -> Option<Ipv4Addr> {
        match &self.role {
            IpcpRole::Ac { dns, .. } => dns.get(slot).copied(),
            IpcpRole::Host { .. } => None,
        }
    }

    /// AC side: Ack the value we would give, Nak with it otherwise, Reject if we have none.
    fn judge_dns(
        &self,
        slot: usize,
        asked: Ipv4Addr,
        make: fn(Ipv4Addr) -> IpcpOption,
    ) -> Judgement<IpcpOption> {
        match self.offer(slot) {
            Some(ours) if ours == asked => Judgement::Ack,
            Some(ours) => Judgement::Nak(make(ours)),
            None => Judgement::Reject,
        }
    }
}

impl Policy for IpcpPolicy {
    type Option = IpcpOption;

    fn reset(&mut self) {
        let unspecified = Some(Ipv4Addr::UNSPECIFIED);
        (self.want, self.want_dns) = match &self.role {
            IpcpRole::Host { hint, dns: true } => (Some(*hint), [unspecified; 2]),
            IpcpRole::Host { hint, dns: false } => (Some(*hint), [None; 2]),
            IpcpRole::Ac { local, .. } => (Some(*local), [None; 2]),
        };
        self.local = Ipv4Addr::UNSPECIFIED;
        self.peer = Ipv4Addr::UNSPECIFIED;
        self.dns = [None; 2];
    }

    fn request(&mut self) -> Vec<IpcpOption> {
        let mut options: Vec<IpcpOption> =
            self.want.map(IpcpOption::IpAddress).into_iter().collect();
        options.extend(self.want_dns[0].map(IpcpOption::PrimaryDns));
        options.extend(self.want_dns[1].map(IpcpOption::SecondaryDns));
        options
    }

    fn judge(&mut self, option: &IpcpOption) -> Judgement<IpcpOption> {
        match (&self.role, option) {
            // RFC 1332 §3.3: a host cannot assign the AC an address; reject 0.0.0.0.
            (IpcpRole::Host { .. }, IpcpOption::IpAddress(a)) if a.is_unspecified() => {
                Judgement::Reject
            }
            (IpcpRole::Host { .. }, IpcpOption::IpAddress(_)) => Judgement::Ack,
            (IpcpRole::Ac { assign, .. }, IpcpOption::IpAddress(a)) if a == assign => {
                Judgement::Ack
            }
            (IpcpRole::Ac { assign, .. }, IpcpOption::IpAddress(_)) => {
                Judgement::Nak(IpcpOption::IpAddress(*assign))
            }
            (IpcpRole::Ac { .. }, IpcpOption::PrimaryDns(a)) => {
                self.judge_dns(0, *a, IpcpOption::PrimaryDns)
            }
            (IpcpRole::Ac { .. }, IpcpOption::SecondaryDns(a)) => {
                self.judge_dns(1, *a, IpcpOption::SecondaryDns)
            }
            _ => Judgement::Reject,
        }
    }

    fn peer_acked(&mut self, options: &[IpcpOption]) {
        for option in options {
            match option {
                IpcpOption::IpAddress(a) => self.peer = *a,
                IpcpOption::PrimaryDns(a) => self.dns[0] = Some(*a),
                IpcpOption::SecondaryDns(a) => self.dns[1] = Some(*a),
                IpcpOption::Unknown { .. } => {}
            }
        }
    }

    fn acked(&mut self, options: &[IpcpOption]) {
        for option in options {
            match option {
                IpcpOption::IpAddress(a) => self.local = *a,
                IpcpOption::PrimaryDns(a) => self.dns[0] = Some(*a),
                IpcpOption::SecondaryDns(a) => self.dns[1] = Some(*a),
                IpcpOption::Unknown { .. } => {}
            }
        }
    }

    fn naked(&mut self, options: &[IpcpOption]) {
        // RFC 1332 §3.3 / RFC 1877 §1: take the values the peer suggests.
        for option in options {
            match option {
                IpcpOption::IpAddress(a) => self.want = Some(*a),
                IpcpOption::PrimaryDns(a) => self.want_dns[0] = Some(*a),
                IpcpOption::SecondaryDns(a) => self.want_dns[1] = Some(*a),
                IpcpOption::Unknown { .. } => {}
            }
        }
    }

    fn rejected(&mut self, options: &[IpcpOption]) {
        for option in options {
            match option {
                IpcpOption::IpAddress(_) => self.want = None,
                IpcpOption::PrimaryDns(_) => self.want_dns[0] = None,
                IpcpOption::SecondaryDns(_) => self.want_dns[1] = None,
                IpcpOption::Unknown { .. } => {}
            }
        }
    }
}

/// IPv6CP's [`Policy`] (the same at both ends): random non-zero interface identifiers,
/// distinct from the peer's (RFC 5072 §4.1).
#[derive(Debug)]
pub(crate) struct Ipv6cpPolicy {
    rng: Rng,
    request_id: bool,
    /// Our interface identifier.
    pub local: u64,
    /// The peer's, once we acked it.
    pub peer: u64,
}

impl Ipv6cpPolicy {
    pub(crate) fn new(mut rng: Rng) -> Self {
        let local = rng.non_zero_u64();
        Ipv6cpPolicy { rng, request_id: true, local, peer: 0 }
    }

    /// A fresh identifier that is neither zero nor `avoid`.
    fn fresh(&mut self, avoid: u64) -> u64 {
        loop {
            let id = self.rng.non_zero_u64();
            if id != avoid {
                return id;
            }
        }
    }
}

impl Policy for Ipv6cpPolicy {
    type Option = Ipv6cpOption;

    fn reset(&mut self) {
        self.request_id = true;
        self.peer = 0;
    }

    fn request(&mut self) -> Vec<Ipv6cpOption> {
        if self.request_id { vec![Ipv6cpOption::InterfaceId(self.local)] } else { vec![] }
    }

    fn judge(&mut self, option: &Ipv6cpOption) -> Judgement<Ipv6cpOption> {
        match option {
            // RFC 5072 §4.1: a zero identifier, or one equal to ours, gets a Configure-Nak
            // with a different, non-zero suggestion.
            Ipv6cpOption::InterfaceId(id) if *id == 0 || *id == self.local => {
                Judgement::Nak(Ipv6cpOption::InterfaceId(self.fresh(self.local)))
            }
            Ipv6cpOption::InterfaceId(_) => Judgement::Ack,
            Ipv6cpOption::Unknown { .. } => Judgement::Reject,
        }
    }

    fn peer_acked(&mut self, options: &[Ipv6cpOption]) {
        for option in options {
            if let Ipv6cpOption::InterfaceId(id) = option {
                self.peer = *id;
            }
        }
    }

    fn acked(&mut self, _options: &[Ipv6cpOption]) {}

    fn naked(&mut self, options: &[Ipv6cpOption]) {
        for option in options {
            if let Ipv6cpOption::InterfaceId(id) = option {
                self.local = if *id != 0 && *id != self.peer { *id } else { self.fresh(self.peer) };
            }
        }
    }

    fn rejected(&mut self, options: &[Ipv6cpOption]) {
        if options.iter().any(|o| matches!(o, Ipv6cpOption::InterfaceId(_))) {
            self.request_id = false;
        }
    }
}
