//! A tiny binary codec with two classic portability bugs, on purpose: it trusts the host's
//! byte order and the host's pointer width.

/// Reads a u32 the way the CPU lays it out: wrong on big-endian machines, since the wire
/// format is little-endian.
pub fn decode_native(b: [u8; 4]) -> u32 {
    u32::from_ne_bytes(b)
}

/// Reads a little-endian u32 on every machine.
pub fn decode_le(b: [u8; 4]) -> u32 {
    u32::from_le_bytes(b)
}

/// The largest record count a header can address: usize's size differs by architecture.
pub fn max_records() -> usize {
    usize::MAX
}

/// Parses a record count; panics on an empty header.
pub fn parse_count(header: &[u8]) -> u32 {
    assert!(!header.is_empty(), "empty header");
    header.iter().fold(0u32, |n, b| n.wrapping_mul(10).wrapping_add(u32::from(b - b'0')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_wire() {
        // Fails on big-endian architectures (s390x, ppc64, mips64).
        assert_eq!(decode_native([1, 0, 0, 0]), 1, "host byte order is not the wire's");
    }

    #[test]
    fn decode_le_everywhere() {
        assert_eq!(decode_le([1, 0, 0, 0]), 1);
    }

    #[test]
    fn large_header() {
        // Fails on 32-bit architectures (arm, 386): five billion records do not fit.
        let records: u64 = 5_000_000_000;
        assert!(max_records() as u64 >= records, "usize::MAX = {} < {}", max_records(), records);
    }

    #[test]
    #[should_panic(expected = "empty header")]
    fn empty_header_panics() {
        parse_count(b"");
    }

    #[test]
    #[ignore = "takes minutes under emulation"]
    fn exhaustive_roundtrip() {
        for n in 0..=u32::MAX {
            assert_eq!(decode_le(n.to_le_bytes()), n);
        }
    }

    #[test]
    fn worker_thread() {
        let handle = std::thread::spawn(|| parse_count(b"42"));
        assert_eq!(handle.join().unwrap(), 42);
    }
}
