package gocodec

import "testing"

func TestChecksum(t *testing.T) {
	if got := Checksum([]byte("multiarch")); got != 0xb815610f {
		t.Fatalf("Checksum = %#x", got)
	}
}

// Fails on big-endian architectures (s390x, mips64, ppc64): DecodeNative trusts host order.
func TestDecodeWire(t *testing.T) {
	wire := []byte{0x01, 0x00, 0x00, 0x00}
	if got := DecodeNative(wire); got != 1 {
		t.Fatalf("DecodeNative(% x) = %d, want 1 (host byte order is not the wire's)", wire, got)
	}
	if got := DecodeLE(wire); got != 1 {
		t.Fatalf("DecodeLE = %d", got)
	}
}

// Fails on 32-bit architectures (386, arm, mips, mipsle): a 5-billion record count does not fit.
func TestLargeHeader(t *testing.T) {
	var records int64 = 5_000_000_000
	if int64(MaxRecords()) < records {
		t.Fatalf("MaxRecords() = %d cannot hold %d records", MaxRecords(), records)
	}
}

func TestRoundTrip(t *testing.T) {
	for _, n := range []uint32{0, 1, 255, 65536} {
		n := n
		t.Run("", func(t *testing.T) {
			b := []byte{byte(n), byte(n >> 8), byte(n >> 16), byte(n >> 24)}
			if got := DecodeLE(b); got != n {
				t.Errorf("DecodeLE(%v) = %d", b, got)
			}
		})
	}
}
