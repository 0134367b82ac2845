"""Typed sections of the tenant config, one module each."""
