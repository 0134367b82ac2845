"""The embedded default's mailer: messages land as .eml files instead of leaving the machine."""
