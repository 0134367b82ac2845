"""Microsoft Teams incoming webhooks."""
