"""divepy: explore Docker and OCI image layers, with dive's numbers."""

__version__ = "0.1.0"
