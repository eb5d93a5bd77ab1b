//! Run keys: a 64-bit FNV-1a hash of a run's resolved settings and its data's bytes.

use std::path::Path;

use crate::error::BenchError;

/// An incremental FNV-1a (64-bit) hash; stable across platforms and releases, which
/// `std::hash` is not.
#[derive(Clone, Debug)]
pub struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    /// Adds bytes.
    pub fn bytes(&mut self, data: &[u8]) -> &mut Self {
        for &b in data {
            self.0 ^= b as u64;
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
        self
    }

    /// Adds a string and a separator, so `("ab", "c")` and `("a", "bc")` differ.
    pub fn text(&mut self, s: &str) -> &mut Self {
        self.bytes(s.as_bytes()).bytes(&[0xff])
    }

    /// Adds a file's length and bytes.
    pub fn file(&mut self, path: &Path) -> Result<&mut Self, BenchError> {
        let data = std::fs::read(path).map_err(|e| BenchError::io(path, e))?;
        self.bytes(&(data.len() as u64).to_le_bytes());
        // Words at a time: large sections hash at memory speed; the tail byte-wise.
        let mut chunks = data.chunks_exact(8);
        for c in &mut chunks {
            self.0 ^= u64::from_le_bytes(c.try_into().expect("8 bytes"));
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
        self.bytes(chunks.remainder());
        Ok(self)
    }

    /// The hash.
    pub fn finish(&self) -> u64 {
        self.0
    }

    /// The hash as 12 hex digits (folder names).
    pub fn short(&self) -> String {
        format!("{:012x}", self.0 >> 16)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_reference_values() {
        // Published FNV-1a 64 test vectors.
        assert_eq!(Fnv::default().bytes(b"").finish(), 0xcbf29ce484222325);
        assert_eq!(Fnv::default().bytes(b"a").finish(), 0xaf63dc4c8601ec8c);
        assert_eq!(Fnv::default().bytes(b"foobar").finish(), 0x85944171f73967e8);
    }

    #[test]
    fn separators_keep_fields_apart() {
        let a = Fnv::default().text("ab").text("c").finish();
        let b = Fnv::default().text("a").text("bc").finish();
        assert_ne!(a, b);
    }
}
