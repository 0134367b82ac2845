"""Signed outgoing HTTP webhooks."""
