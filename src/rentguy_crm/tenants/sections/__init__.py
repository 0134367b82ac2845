"""Typed sections of the tenant config: pure data, importing nothing above `kit`."""
