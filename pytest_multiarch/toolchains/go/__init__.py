"""Go: find the go command (find), list a module's packages per architecture (list), with the
tests each test binary runs (discover), build the test binaries (build), read their output
(test2json)."""
