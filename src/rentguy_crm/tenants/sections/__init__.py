"""Sections of the tenant config owned by one feature each; each imports nothing above `kit`."""
