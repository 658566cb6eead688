"""Pure data: file records, layer trees, diffs, images. No I/O here."""
