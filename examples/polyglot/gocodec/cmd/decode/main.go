// decode prints the architecture it runs on and the little-endian uint32 of its 4-byte hex arg.
package main

import (
	"encoding/hex"
	"fmt"
	"os"
	"runtime"

	"example.com/gocodec"
)

func main() {
	b, err := hex.DecodeString(os.Args[1])
	if err != nil || len(b) != 4 {
		fmt.Fprintln(os.Stderr, "usage: decode 8-HEX-DIGITS")
		os.Exit(2)
	}
	fmt.Println(runtime.GOARCH, gocodec.DecodeLE(b))
}
