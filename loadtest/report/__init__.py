"""Reports of a saved run: read back from its directory, rendered as HTML, Markdown,
JSON, a terminal table, and HdrHistogram .hgrm files. Nothing here re-runs anything."""
