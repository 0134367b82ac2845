"""Tenant config sections owned by one feature each; they import nothing above `kit`."""
