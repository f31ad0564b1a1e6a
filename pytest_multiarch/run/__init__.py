"""Running test binaries: batches of tests in one supervised process, their time limits, crash
blame, progress lines, reuse of passed results, and the xdist scheduling of whole batches."""
