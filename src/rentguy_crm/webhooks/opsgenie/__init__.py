"""Opsgenie outgoing webhook: alert actions (acknowledge, close, ...) back into the desk."""
