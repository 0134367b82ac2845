"""Freshdesk client."""
