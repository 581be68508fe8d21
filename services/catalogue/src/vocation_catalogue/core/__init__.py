"""The catalogue's pure domain: projections, search queries and cursors, immersion booking decisions."""
