"""Data correction and privacy: merge, import and export of contacts and leads, GDPR access and erasure
requests, marketing opt-outs and retention (docs/privacy.md)."""
