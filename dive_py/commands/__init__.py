"""One module per sub-command (`divepy cat`, `divepy diff` ...), each with `main(argv) -> int`.

`dive_py.cli` maps names to these modules lazily, so a sub-command imports only what it uses.
"""
