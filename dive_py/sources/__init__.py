"""Everything that turns a reference into an Image: daemons, archives, layouts."""
