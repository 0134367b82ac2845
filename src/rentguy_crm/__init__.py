"""RentGuy CRM & Automation Suite."""

__version__ = "0.1.0"
