"""WhatsApp Cloud API (template messages)."""
