//! Validation of a parsed configuration: every error with its key and line.

use super::*;

pub(super) fn key_from_toml(message: &str) -> String {
    message
        .split('`')
        .nth(1)
        .filter(|k| !k.contains(' '))
        .map_or_else(|| "(syntax)".to_string(), ToString::to_string)
}

/// The key whose value is at `offset` in `text`, as the validator names keys
/// (`firewall.fast_path`, `lan[1].ipv4`): for toml's own errors that name no key (a value of
/// the wrong type). The key before the `=` on that line, under the last table header above
/// it (an array of tables indexed by its entries so far). `None` off a `key = value` line.
pub(super) fn key_at(text: &str, offset: usize) -> Option<String> {
    let before = text.get(..offset.min(text.len()))?;
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = text.get(start..)?.lines().next()?;
    let (name, _) = line.split_once('=')?;
    let name = name.trim();
    if name.is_empty() || name.starts_with('[') || name.starts_with('#') {
        return None;
    }
    let mut table: Option<String> = None;
    let mut entries: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for l in text.get(..start)?.lines().map(str::trim) {
        if let Some(h) = l.strip_prefix("[[").and_then(|h| h.split("]]").next()) {
            let h = h.trim().to_string();
            let n = entries.entry(h.clone()).or_insert(0);
            table = Some(format!("{h}[{n}]"));
            *n += 1;
        } else if let Some(h) = l.strip_prefix('[').and_then(|h| h.split(']').next()) {
            table = Some(h.trim().to_string());
        }
    }
    Some(table.map_or_else(|| name.to_string(), |t| format!("{t}.{name}")))
}

pub(super) fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset.min(text.len())).map_or(0, |t| t.matches('\n').count()) + 1
}

/// The line of `key`'s own `name =` inside the table entry at `span`: the components after
/// the entry's index, each searched after the one before (`lan[0].dhcp4.pool` finds `dhcp4`
/// (an inline table, or a `[lan.dhcp4]` sub-table), then `pool` in it), or the last one.
pub(super) fn key_line(text: &str, span: &std::ops::Range<usize>, key: &str) -> Option<usize> {
    let parts: Vec<&str> = key.split('.').collect();
    let (table, cands): (String, Vec<&str>) = match parts.iter().position(|p| p.contains('[')) {
        Some(i) => {
            let mut t: Vec<&str> = parts.get(..=i)?.to_vec();
            if let Some(last) = t.last_mut() {
                *last = last.split('[').next().unwrap_or(last);
            }
            (t.join("."), parts.get(i + 1..)?.to_vec())
        }
        None => (String::new(), parts.last().copied().into_iter().collect()),
    };
    // An array-of-tables entry's span is its `[[header]]`: its keys follow, up to the next
    // header that is not one of its own sub-tables (`[lan.dhcp4]`).
    let mut end = span.end;
    if text.get(span.clone()).is_some_and(|t| t.starts_with('[')) {
        let own = format!("[{table}.");
        let from = span.end.min(text.len());
        let rest = text.get(from..).unwrap_or("");
        end = rest
            .match_indices("\n[")
            .find(|(i, _)| !rest.get(i + 1..).is_some_and(|h| h.starts_with(&own)))
            .map_or(text.len(), |(i, _)| from + i);
    }
    let region = text.get(span.start..end)?;
    let (mut from, mut found) = (0, None);
    for cand in cands {
        let cand = cand.split('[').next().unwrap_or(cand);
        let mut offset = 0;
        for line in region.split_inclusive('\n') {
            if offset >= from && (assigns(line, cand) || opens(line, cand)) {
                found = Some(line_of(text, span.start + offset));
                from = offset;
                break;
            }
            offset += line.len();
        }
    }
    found
}

/// Whether `line` is the header of a sub-table named `key` (`[lan.dhcp4]`).
pub(super) fn opens(line: &str, key: &str) -> bool {
    let t = line.trim();
    t.starts_with('[') && t.trim_end_matches(']').ends_with(&format!(".{key}"))
}

/// Whether `line` assigns `key` (`key =`, `{ key =`, `, key =`), comments aside.
pub(super) fn assigns(line: &str, key: &str) -> bool {
    let line = line.split('#').next().unwrap_or(line);
    line.match_indices(key).any(|(i, _)| {
        let before = line.get(..i).unwrap_or("").trim_end();
        let after = line.get(i + key.len()..).unwrap_or("").trim_start();
        (before.is_empty() || before.ends_with('{') || before.ends_with(','))
            && after.starts_with('=')
    })
}

pub(super) struct Validator<'a> {
    pub(super) text: &'a str,
    pub(super) dir: &'a Path,
    pub(super) errors: Vec<ConfigError>,
}

pub(super) fn valid_ifname(s: &str) -> bool {
    !s.is_empty()
        && s.len() < 16
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

pub(super) fn valid_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// `first-last`, e.g. `192.168.1.100-192.168.1.249`, first not after last.
pub fn parse_pool(s: &str) -> Option<(Ipv4Addr, Ipv4Addr)> {
    let (a, b) = s.split_once('-')?;
    let (a, b): (Ipv4Addr, Ipv4Addr) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
    (u32::from(a) <= u32::from(b)).then_some((a, b))
}

impl Validator<'_> {
    /// Records an error at `key`; `span` is the value's, or the table entry's it is in (then
    /// the line of the key itself is looked up inside the entry).
    fn err(
        &mut self,
        span: &std::ops::Range<usize>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) {
        let key = key.into();
        let line = if span.is_empty() && span.start == 0 {
            0
        } else {
            key_line(self.text, span, &key).unwrap_or_else(|| line_of(self.text, span.start))
        };
        self.errors.push(ConfigError { line, key, message: message.into() });
    }

    pub(super) fn run(mut self, c: &Config) -> Result<(), ConfigError> {
        self.role(c);
        self.wan(c);
        self.lans(c);
        self.dns(c);
        self.firewall(c);
        self.http(c);
        self.extra_and_igmp(c);
        // The first error in file order: what a person fixes first.
        self.errors.sort_by_key(|e| e.line);
        match self.errors.into_iter().next() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn wan(&mut self, c: &Config) {
        let none = 0..0;
        if !valid_ifname(&c.wan.interface) {
            self.err(
                &none,
                "wan.interface",
                format!("{:?} is not an interface name", c.wan.interface),
            );
        }
        if let Some(v) = &c.wan.vlan {
            if !(1..=4094).contains(v.get_ref()) {
                self.err(&v.span(), "wan.vlan", "must be 1..=4094");
            }
        }
        match (c.wan.mode, &c.wan.pppoe, &c.wan.static_) {
            (WanMode::Pppoe, None, _) => {
                self.err(&none, "wan.pppoe", "mode = \"pppoe\" needs a [wan.pppoe] table")
            }
            (WanMode::Static, _, None) => {
                self.err(&none, "wan.static", "mode = \"static\" needs a [wan.static] table")
            }
            _ => {}
        }
        if let Some(p) = &c.wan.pppoe {
            let span = p.span();
            let p = p.get_ref();
            if !(1280..=1500).contains(p.mtu.get_ref()) {
                self.err(
                    &p.mtu.span(),
                    "wan.pppoe.mtu",
                    "must be 1280..=1500 (above 1492 uses RFC 4638)",
                );
            }
            match (&p.password, &p.password_file) {
                (None, None) => {
                    self.err(&span, "wan.pppoe.password", "missing: give password or password_file")
                }
                (Some(_), Some(_)) => self.err(
                    &span,
                    "wan.pppoe.password",
                    "give password or password_file, not both",
                ),
                (None, Some(f)) => {
                    let f = self.dir.join(f);
                    if std::fs::read_to_string(&f).is_err() {
                        self.err(
                            &span,
                            "wan.pppoe.password_file",
                            format!("cannot read {}", f.display()),
                        );
                    }
                }
                _ => {}
            }
        }
        let pd = &c.wan.ipv6.pd_length;
        if !(32..=64).contains(pd.get_ref()) {
            self.err(&pd.span(), "wan.ipv6.pd_length", "must be 32..=64");
        }
    }

    /// `[[wan.extra]]` and `[igmp]`.
    fn extra_and_igmp(&mut self, c: &Config) {
        let mut names = HashSet::new();
        for (i, x) in c.wan.extra.iter().enumerate() {
            let (span, x) = (x.span(), x.get_ref());
            if !valid_label(&x.name) || !names.insert(x.name.as_str()) {
                self.err(
                    &span,
                    format!("wan.extra[{i}].name"),
                    format!("{:?}: not a name, or used twice", x.name),
                );
            }
            let taken = x.interface == c.wan.interface
                || c.lan.iter().any(|l| l.get_ref().interface == x.interface)
                || c.dmz.as_ref().is_some_and(|d| d.get_ref().interface == x.interface);
            if !valid_ifname(&x.interface) || taken {
                self.err(
                    &span,
                    format!("wan.extra[{i}].interface"),
                    format!(
                        "{:?}: not an interface name, or the WAN's, a LAN's or the DMZ's",
                        x.interface
                    ),
                );
            }
            if x.dhcp.vendor_class.as_ref().is_some_and(|v| v.is_empty() || v.len() > 255) {
                self.err(
                    &span,
                    format!("wan.extra[{i}].dhcp.vendor_class"),
                    "must be 1 to 255 bytes",
                );
            }
        }
        let Some(g) = &c.igmp else { return };
        let (span, g) = (g.span(), g.get_ref());
        if c.role() == Role::Ingress {
            self.err(&span, "igmp", "the IGMP proxy runs where the LANs are (role all or gateway)");
        }
        if !c.wan.extra.iter().any(|x| x.get_ref().name == g.upstream) {
            self.err(
                &span,
                "igmp.upstream",
                format!("{:?} is not a [[wan.extra]] name", g.upstream),
            );
        }
        for l in &g.lans {
            match c.lan.iter().find(|x| x.get_ref().name == *l) {
                None => self.err(&span, "igmp.lans", format!("{l:?} is not a LAN")),
                Some(x) if x.get_ref().ipv4.is_none() => {
                    self.err(&span, "igmp.lans", format!("LAN {l:?} has no IPv4 address"))
                }
                Some(_) => {}
            }
        }
        if c.igmp_lans().is_empty() {
            self.err(&span, "igmp.lans", "no LAN with an IPv4 address to proxy to");
        }
        if c.igmp_lans().len() > 31 {
            self.err(&span, "igmp.lans", "at most 31 LANs (the kernel has 32 multicast vifs)");
        }
        if g.allowed.is_empty() || g.allowed.iter().any(|n| !n.network().is_multicast()) {
            self.err(&span, "igmp.allowed", "must be multicast ranges (within 224.0.0.0/4)");
        }
        if g.query_interval < Duration::from_secs(2) || g.query_interval > Duration::from_secs(3600)
        {
            self.err(&span, "igmp.query_interval", "must be 2 s to 1 h");
        }
        if !matches!(g.version.get_ref(), 2 | 3) {
            self.err(&g.version.span(), "igmp.version", "must be 2 or 3");
        }
    }

    /// `[http]`: only the LANs' own addresses or loopback (never the WAN, never a wildcard
    /// that would include it); a token file that can be read and is not empty.
    fn http(&mut self, c: &Config) {
        if let Some(l) = &c.http.listen {
            let own: Vec<IpAddr> = c
                .lan
                .iter()
                .flat_map(|l| {
                    let l = l.get_ref();
                    l.ipv4
                        .map(|a| IpAddr::V4(a.addr()))
                        .into_iter()
                        .chain(l.ula.map(|a| IpAddr::V6(a.addr())))
                })
                .collect();
            for a in l.get_ref() {
                let ip = a.ip();
                if !(ip.is_loopback() || own.contains(&ip)) {
                    let why = if ip.is_unspecified() {
                        format!("{a} would listen on the WAN too: give the LANs' addresses")
                    } else {
                        format!(
                            "{a}: not an address of a LAN (nor loopback); the status page is never served on the WAN"
                        )
                    };
                    self.err(&l.span(), "http.listen", why);
                }
            }
        }
        if let Some(f) = &c.http.token_file {
            let path = self.dir.join(f.get_ref());
            match std::fs::read_to_string(&path) {
                Ok(t) if !t.trim().is_empty() => {}
                Ok(_) => {
                    self.err(&f.span(), "http.token_file", format!("{} is empty", path.display()))
                }
                Err(e) => self.err(
                    &f.span(),
                    "http.token_file",
                    format!("cannot read {}: {e}", path.display()),
                ),
            }
        }
    }

    /// What each role of the split deployment needs and refuses.
    fn role(&mut self, c: &Config) {
        let span = c.role.span();
        match (c.role(), &c.dmz) {
            (Role::Ingress, None) => self.err(
                &span,
                "dmz",
                "role = \"ingress\" needs a [dmz] table (the link to the gateway)",
            ),
            (Role::Ingress, Some(d)) => {
                let ds = d.span();
                let d = d.get_ref();
                if !valid_ifname(&d.interface) || d.interface == c.wan.interface {
                    self.err(
                        &ds,
                        "dmz.interface",
                        format!("{:?} must be an interface other than the WAN's", d.interface),
                    );
                }
                let pd = *c.wan.ipv6.pd_length.get_ref();
                if d.delegate_length.is_some_and(|l| l < pd || l > 64) {
                    self.err(
                        &ds,
                        "dmz.delegate_length",
                        format!("must be between wan.ipv6.pd_length ({pd}) and 64"),
                    );
                }
                if let Some(l) = c.lan.first() {
                    self.err(
                        &l.span(),
                        "lan[0]",
                        "role = \"ingress\" has no LANs: they belong to the gateway",
                    );
                }
                if let Some(p) = c.firewall.port_forward.first() {
                    self.err(
                        &p.span(),
                        "firewall.port_forward[0]",
                        "on the ingress everything goes to the gateway: forward ports there",
                    );
                }
                if let Some(p) = c.firewall.pinhole.first() {
                    self.err(
                        &p.span(),
                        "firewall.pinhole[0]",
                        "on the ingress IPv6 goes to the gateway: open pinholes there",
                    );
                }
            }
            (Role::Gateway, dmz) => {
                if let Some(d) = dmz {
                    self.err(
                        &d.span(),
                        "dmz",
                        "only the ingress has a [dmz] table; the gateway's WAN is the DMZ link",
                    );
                }
                if c.wan.mode != WanMode::Static {
                    self.err(
                        &span,
                        "wan.mode",
                        "the gateway's WAN is the DMZ link: mode = \"static\", its [wan.static] gateway being the ingress, which gets that address by DHCP",
                    );
                }
            }
            (Role::All, Some(d)) => self.err(&d.span(), "dmz", "only for role = \"ingress\""),
            (Role::All, None) => {}
        }
    }

    fn lans(&mut self, c: &Config) {
        let (mut names, mut ifaces) = (HashSet::new(), HashSet::new());
        let mut subnets: Vec<(usize, Ipv4Net)> = Vec::new();
        let mut pools: Vec<(usize, Delegate)> = Vec::new();
        let pd_len = *c.wan.ipv6.pd_length.get_ref();
        for (i, l) in c.lan.iter().enumerate() {
            let span = l.span();
            let l = l.get_ref();
            let k = |f: &str| format!("lan[{i}].{f}");
            if !valid_label(&l.name) || !names.insert(l.name.clone()) {
                self.err(
                    &span,
                    k("name"),
                    format!("{:?} must be a unique name of letters, digits and -", l.name),
                );
            }
            if !valid_ifname(&l.interface)
                || l.interface == c.wan.interface
                || !ifaces.insert(l.interface.clone())
            {
                self.err(
                    &span,
                    k("interface"),
                    format!("{:?} must be a unique interface, not the WAN's", l.interface),
                );
            }
            if let Some(d) = l.dhcp6.as_ref().and_then(|d| d.delegate) {
                let pool_fits = d.pool_length > pd_len
                    && d.pool_length <= 64
                    && (d.pool_length - pd_len >= 32
                        || u64::from(d.pool) < 1u64 << (d.pool_length - pd_len));
                if !pool_fits {
                    self.err(
                        &span,
                        k("dhcp6.delegate.pool"),
                        format!(
                            "pool {} of length /{} does not fit in the delegated /{pd_len}",
                            d.pool, d.pool_length
                        ),
                    );
                } else if d.length < d.pool_length || d.length > 64 {
                    self.err(
                        &span,
                        k("dhcp6.delegate.length"),
                        format!("must be between pool_length ({}) and 64", d.pool_length),
                    );
                } else if l.ula.is_none() && l.subnet_id.is_none() {
                    self.err(&span, k("dhcp6"), "needs lan.subnet_id or lan.ula");
                }
                pools.push((i, d));
            }
            if let Some(id) = l.subnet_id {
                let fits = pd_len >= 64 && id == 0
                    || pd_len < 64 && u32::from(id) < (1u32 << (64 - u32::from(pd_len)).min(16));
                if !fits {
                    self.err(
                        &span,
                        k("subnet_id"),
                        format!(
                            "{id} does not fit in a /{pd_len} (only {} /64s)",
                            1u64 << (64 - u32::from(pd_len.min(64)))
                        ),
                    );
                }
            }
            let Some(net) = l.ipv4 else {
                if l.dhcp4.is_some() {
                    self.err(&span, k("dhcp4"), "needs lan.ipv4");
                }
                continue;
            };
            if net.addr() == net.network() || net.prefix_len() > 30 {
                self.err(
                    &span,
                    k("ipv4"),
                    format!("{net}: give the router's address in the subnet, e.g. 192.168.1.1/24"),
                );
            }
            if let Some((j, other)) = subnets
                .iter()
                .find(|(_, o)| o.contains(&net.network()) || net.contains(&o.network()))
            {
                self.err(&span, k("ipv4"), format!("{net} overlaps lan[{j}].ipv4 {other}"));
            }
            subnets.push((i, net.trunc()));
            if let Some(d) = &l.dhcp4 {
                match parse_pool(&d.pool) {
                    None => self.err(
                        &span,
                        k("dhcp4.pool"),
                        format!("{:?}: use first-last, e.g. 192.168.1.100-192.168.1.249", d.pool),
                    ),
                    Some((a, b)) if !net.contains(&a) || !net.contains(&b) => {
                        self.err(&span, k("dhcp4.pool"), format!("{} is outside {net}", d.pool));
                    }
                    Some((a, b))
                        if (u32::from(a)..=u32::from(b)).contains(&u32::from(net.addr())) =>
                    {
                        self.err(
                            &span,
                            k("dhcp4.pool"),
                            format!("{} contains the router's own {}", d.pool, net.addr()),
                        );
                    }
                    _ => {}
                }
            }
            for (r, res) in l.reservations.iter().enumerate() {
                if !net.contains(&res.ipv4) || res.ipv4 == net.addr() {
                    self.err(
                        &span,
                        k(&format!("reservations[{r}].ipv4")),
                        format!("{} is not a host address of {net}", res.ipv4),
                    );
                }
                let mac_ok = res
                    .mac
                    .split(':')
                    .filter(|p| p.len() == 2 && u8::from_str_radix(p, 16).is_ok())
                    .count()
                    == 6
                    && res.mac.len() == 17;
                if !mac_ok {
                    self.err(
                        &span,
                        k(&format!("reservations[{r}].mac")),
                        format!("{:?} is not a MAC address", res.mac),
                    );
                }
                if res.hostname.as_deref().is_some_and(|h| !valid_label(h)) {
                    self.err(
                        &span,
                        k(&format!("reservations[{r}].hostname")),
                        "must be one DNS label (letters, digits, -)",
                    );
                }
            }
        }
        // A delegation pool may not hold a LAN's own /64, nor overlap another pool.
        let range = |d: &Delegate| {
            let shift = 64 - u32::from(d.pool_length);
            let start = u64::from(d.pool).checked_shl(shift).unwrap_or(u64::MAX);
            (start, start.saturating_add(1u64.checked_shl(shift).unwrap_or(u64::MAX)))
        };
        for (n, &(i, d)) in pools.iter().enumerate() {
            let (start, end) = range(&d);
            let span = c.lan.get(i).map(Spanned::span).unwrap_or_default();
            let key = format!("lan[{i}].dhcp6.delegate.pool");
            for (j, l) in c.lan.iter().enumerate() {
                if let Some(id) =
                    l.get_ref().subnet_id.filter(|id| (start..end).contains(&u64::from(*id)))
                {
                    self.err(&span, key.clone(), format!("holds lan[{j}]'s subnet_id {id}"));
                }
            }
            for &(j, o) in pools.iter().skip(n + 1) {
                let (s2, e2) = range(&o);
                if s2 < end && start < e2 {
                    self.err(&span, key.clone(), format!("overlaps lan[{j}].dhcp6.delegate"));
                }
            }
        }
    }

    fn dns(&mut self, c: &Config) {
        let none = 0..0;
        if !c.dns.domain.split('.').all(valid_label) {
            self.err(&none, "dns.domain", format!("{:?} is not a domain name", c.dns.domain));
        }
        for (i, h) in c.dns.hosts.iter().enumerate() {
            if !valid_label(&h.name) || (h.ipv4.is_none() && h.ipv6.is_none()) {
                self.err(
                    &none,
                    format!("dns.hosts[{i}]"),
                    "needs a one-label name and an ipv4 or ipv6 address",
                );
            }
        }
        if let Some(n) = &c.dns.cache_size
            && !(100..=10_000_000).contains(n.get_ref())
        {
            self.err(&n.span(), "dns.cache_size", "must be 100..=10000000");
        }
        for (i, k) in c.dns.tsig_keys.iter().enumerate() {
            let span = k.span();
            let k = k.get_ref();
            if k.algorithm != "hmac-sha256" {
                self.err(
                    &span,
                    format!("dns.tsig_keys[{i}].algorithm"),
                    format!("{:?}: only hmac-sha256", k.algorithm),
                );
            }
            let f = self.dir.join(&k.secret_file);
            if std::fs::read_to_string(&f).map_or(true, |s| s.trim().is_empty()) {
                self.err(
                    &span,
                    format!("dns.tsig_keys[{i}].secret_file"),
                    format!("cannot read a secret from {}", f.display()),
                );
            }
        }
    }

    fn firewall(&mut self, c: &Config) {
        let lans: Vec<&Lan> = c.lan.iter().map(Spanned::get_ref).collect();
        let mut taken = std::collections::HashMap::new();
        for (i, pf) in c.firewall.port_forward.iter().enumerate() {
            let span = pf.span();
            let pf = pf.get_ref();
            if pf.port == 0 || pf.to.port() == 0 {
                self.err(
                    &span,
                    format!("firewall.port_forward[{i}].port"),
                    "ports must be 1..=65535",
                );
            }
            // Which forward took each (port, protocol) first: linear, for 10,000 forwards.
            let l4s: &[u8] = match pf.proto {
                Proto::Tcp => &[6],
                Proto::Udp => &[17],
                Proto::Both => &[6, 17],
            };
            for l4 in l4s {
                match taken.entry((pf.port, *l4)) {
                    std::collections::hash_map::Entry::Vacant(v) => {
                        v.insert(i);
                    }
                    std::collections::hash_map::Entry::Occupied(o) => {
                        let j = *o.get();
                        let name = c.firewall.port_forward.get(j).map(|o| o.get_ref().name.clone());
                        self.err(
                            &span,
                            format!("firewall.port_forward[{i}].port"),
                            format!(
                                "port {} is already forwarded by port_forward[{j}] ({:?})",
                                pf.port,
                                name.unwrap_or_default()
                            ),
                        );
                        break;
                    }
                }
            }
            if !lans
                .iter()
                .any(|l| l.ipv4.is_some_and(|n| n.contains(pf.to.ip()) && n.addr() != *pf.to.ip()))
            {
                self.err(
                    &span,
                    format!("firewall.port_forward[{i}].to"),
                    format!("{} is in no LAN's subnet", pf.to.ip()),
                );
            }
        }
        for (i, p) in c.firewall.pinhole.iter().enumerate() {
            let span = p.span();
            let p = p.get_ref();
            if !lans.iter().any(|l| l.name == p.lan) {
                self.err(
                    &span,
                    format!("firewall.pinhole[{i}].lan"),
                    format!("no LAN named {:?}", p.lan),
                );
            }
            if p.port == 0 {
                self.err(&span, format!("firewall.pinhole[{i}].port"), "must be 1..=65535");
            }
        }
    }
}
