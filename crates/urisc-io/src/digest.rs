//! Content hashes: 64-bit FNV-1a, stable across platforms and releases (which `std::hash` is
//! not). Model files' weight checksums, the cluster's unit hashes and manifest seal, and the
//! benchmark's run keys all use this one. It detects damage, not tampering.

/// An incremental 64-bit FNV-1a hash.
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
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
        self
    }

    /// Adds a string and a separator, so `("ab", "c")` and `("a", "bc")` differ.
    pub fn text(&mut self, s: &str) -> &mut Self {
        self.bytes(s.as_bytes()).bytes(&[0xff])
    }

    /// Adds data eight bytes at a time (little-endian words, the tail byte-wise): large files
    /// hash at memory speed. Not the same value as [`Fnv::bytes`] of the same data.
    pub fn words(&mut self, data: &[u8]) -> &mut Self {
        let mut chunks = data.chunks_exact(8);
        for c in &mut chunks {
            self.0 ^= u64::from_le_bytes(c.try_into().expect("8 bytes"));
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
        self.bytes(chunks.remainder())
    }

    /// The hash.
    pub fn finish(&self) -> u64 {
        self.0
    }

    /// The hash as `fnv1a64:` and 16 hex digits, as files record it.
    pub fn tagged(&self) -> String {
        format!("fnv1a64:{:016x}", self.0)
    }
}

/// The FNV-1a hash of `bytes`, tagged ([`Fnv::tagged`]).
pub fn fnv1a64(bytes: &[u8]) -> String {
    Fnv::default().bytes(bytes).tagged()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_values() {
        // The published FNV-1a 64-bit test vectors.
        assert_eq!(fnv1a64(b""), "fnv1a64:cbf29ce484222325");
        assert_eq!(fnv1a64(b"a"), "fnv1a64:af63dc4c8601ec8c");
        assert_eq!(Fnv::default().bytes(b"foobar").finish(), 0x85944171f73967e8);
        assert_ne!(
            Fnv::default().text("ab").text("c").finish(),
            Fnv::default().text("a").text("bc").finish()
        );
    }
}
