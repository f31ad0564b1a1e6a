use rustcodec::{decode_le, parse_count};

#[test]
fn roundtrip_le() {
    for n in [0u32, 1, 255, 65_536, u32::MAX] {
        assert_eq!(decode_le(n.to_le_bytes()), n);
    }
}

#[test]
fn parse_decimal() {
    assert_eq!(parse_count(b"1234"), 1234);
}
