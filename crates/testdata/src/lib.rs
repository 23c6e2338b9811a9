//! The captured vectors of the protocol crates (`testdata/*.hex` in dhcpv4, dhcpv6, dns, ra,
//! pppoe, igmp): each file is the bytes in hex, spaces and line breaks free, after `#` lines
//! that say where the bytes came from. One reader for every crate's tests and benches.
//!
//! ```ignore
//! let discover = testdata::read(env!("CARGO_MANIFEST_DIR"), "dhclient_discover");
//! ```

#![allow(clippy::panic)]

use std::path::{Path, PathBuf};

/// `CRATE_DIR/testdata/NAME.hex`, decoded. Panics (these are tests) when it is missing or
/// not hex.
pub fn read(crate_dir: &str, name: &str) -> Vec<u8> {
    read_file(&dir(crate_dir).join(name).with_extension("hex"))
}

/// A vector file at `path`, decoded (see the crate doc). Panics when it is missing or not hex.
pub fn read_file(path: &Path) -> Vec<u8> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("test vector {}: {e}", path.display()));
    parse(&text).unwrap_or_else(|| panic!("test vector {}: not hex", path.display()))
}

/// Every `*.hex` file of `CRATE_DIR/testdata`, by name (without `.hex`), in name order.
pub fn all(crate_dir: &str) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir(crate_dir))
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|x| x == "hex"));
    files.sort();
    files
        .iter()
        .map(|p| {
            let name = p.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            (name, read_file(p))
        })
        .collect()
}

/// The bytes of a vector file's text: `#` lines skipped, whitespace ignored; `None` if what is
/// left is not whole hex bytes.
pub fn parse(text: &str) -> Option<Vec<u8>> {
    let hex: Vec<u8> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .flat_map(|l| l.bytes().filter(|c| !c.is_ascii_whitespace()))
        .collect();
    if hex.len() % 2 != 0 {
        return None;
    }
    hex.chunks(2)
        .map(|p| std::str::from_utf8(p).ok().and_then(|s| u8::from_str_radix(s, 16).ok()))
        .collect()
}

fn dir(crate_dir: &str) -> PathBuf {
    Path::new(crate_dir).join("testdata")
}

#[cfg(test)]
mod tests {
    #[test]
    fn provenance_lines_and_spaces_are_skipped() {
        let text = "# from somewhere\n# second line\n01 ab\nFF\n  00 7f \n";
        assert_eq!(super::parse(text), Some(vec![0x01, 0xab, 0xff, 0x00, 0x7f]));
        assert_eq!(super::parse("0g"), None);
        assert_eq!(super::parse("abc"), None);
        assert_eq!(super::parse("# only a comment\n"), Some(vec![]));
    }
}
