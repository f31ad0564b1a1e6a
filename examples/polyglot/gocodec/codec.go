// Package gocodec is a tiny binary codec with two classic portability bugs, on purpose:
// it trusts the host's byte order and the host's word size.
package gocodec

import (
	"encoding/binary"
	"unsafe"
)

// Checksum adds up bytes; portable.
func Checksum(data []byte) uint32 {
	var sum uint32
	for _, b := range data {
		sum = sum*31 + uint32(b)
	}
	return sum
}

// DecodeNative reads a uint32 the way the CPU lays it out: wrong on big-endian machines
// when the wire format is little-endian.
func DecodeNative(b []byte) uint32 {
	return *(*uint32)(unsafe.Pointer(&b[0]))
}

// DecodeLE reads a little-endian uint32 on every machine.
func DecodeLE(b []byte) uint32 {
	return binary.LittleEndian.Uint32(b)
}

// MaxRecords is the largest record count a header can hold: int's size differs by arch.
func MaxRecords() int {
	return int(^uint(0) >> 1)
}
