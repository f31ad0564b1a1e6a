"""Finding and driving the language toolchains (go, cargo)."""
