"""Inbound webhooks of payment and other vendors, one folder per vendor."""
