"""Opsgenie client."""
