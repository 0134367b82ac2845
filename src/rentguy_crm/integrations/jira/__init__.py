"""Jira client."""
