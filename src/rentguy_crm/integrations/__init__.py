"""Capabilities the suite talks to (mail, chat, messaging, pager, ...), one module per vendor below this."""
