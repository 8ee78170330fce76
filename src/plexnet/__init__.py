"""plexnet: an open network for AI work."""
