"""Typeform: the fallback lead form, delivered as signed `form_response` webhooks."""
