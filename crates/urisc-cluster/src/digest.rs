//! Content hashes of the block state ([`fnv1a64`], urisc's one content hash, the one model files
//! use for their weights) and random ids.

pub use urisc_io::digest::fnv1a64;

/// 32 random hex digits: the standard library's randomly keyed hasher over the time and the
/// process id (unique enough to tell one store from the one that replaced it).
pub fn random_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let half = || {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(now);
        h.write_u32(std::process::id());
        h.finish()
    };
    format!("{:016x}{:016x}", half(), half())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_ids_differ() {
        let (a, b) = (random_id(), random_id());
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
    }
}
