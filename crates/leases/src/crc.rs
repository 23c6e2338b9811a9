//! CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320), table-driven, for record frames.

const TABLE: [u32; 256] = table();

// Indexing is bounded by the loop (i < 256) and checked at compile time.
#[allow(clippy::indexing_slicing)]
const fn table() -> [u32; 256] {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { 0xedb8_8320 ^ (c >> 1) } else { c >> 1 };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
}

/// The CRC-32 of `data` (`crc32(b"123456789") == 0xcbf43926`).
pub fn crc32(data: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in data {
        let i = usize::from((c as u8) ^ b);
        c = TABLE.get(i).copied().unwrap_or(0) ^ (c >> 8);
    }
    !c
}

#[cfg(test)]
mod tests {
    #[test]
    fn check_value() {
        assert_eq!(super::crc32(b"123456789"), 0xcbf4_3926);
    }
}
