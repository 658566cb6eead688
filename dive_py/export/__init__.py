"""Machine-readable output: dive's JSON schema (plus divepy's extra keys)."""
