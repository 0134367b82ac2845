"""Freshdesk automation-rule webhook: ticket status changes back into the desk."""
