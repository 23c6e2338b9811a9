//! Host names from clients (options 12 and 81): sanitised to one LDH label.
//!
//! A client's name ends up in the router's DNS zone, so it is untrusted input: only the first
//! label is kept (the zone is ours, not the client's), lower-cased, restricted to letters,
//! digits and hyphens (RFC 952 / RFC 1123 §2.1), without leading or trailing hyphens, at most
//! 63 octets (RFC 1035 §2.3.4). Spaces and underscores become hyphens; anything else is dropped.

/// Longest label (RFC 1035 §2.3.4).
pub const MAX_LABEL: usize = 63;

/// The sanitised first label of `raw`, or `None` if nothing usable is left.
pub fn sanitize(raw: &[u8]) -> Option<String> {
    let label = raw.split(|&b| b == b'.').next().unwrap_or_default();
    let mut out = String::with_capacity(label.len().min(MAX_LABEL));
    for &b in label {
        let c = match b {
            b'a'..=b'z' | b'0'..=b'9' | b'-' => b as char,
            b'A'..=b'Z' => b.to_ascii_lowercase() as char,
            b' ' | b'_' => '-',
            _ => continue,
        };
        if out.len() == MAX_LABEL {
            break;
        }
        out.push(c);
    }
    let trimmed = out.trim_matches('-');
    (!trimmed.is_empty()).then(|| trimmed.to_owned())
}
