"""From a modelled image to the numbers: efficiency, waste, inefficient files."""
