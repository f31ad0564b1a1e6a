"""The build cache: a content-addressed store for built binaries and test lists, and the
fingerprints of source trees that key it."""
