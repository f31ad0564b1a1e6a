"""Go: finding the toolchain, listing a module's packages per GOARCH, discovering the tests `go
test` would run, building test binaries, and decoding test2json output."""
