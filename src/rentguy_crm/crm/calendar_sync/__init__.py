"""Confirmed gigs in the tenant's shared Outlook calendar, kept in step both ways (docs/calendar.md)."""
