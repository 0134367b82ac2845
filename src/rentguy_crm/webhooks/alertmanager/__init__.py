"""Alertmanager: webhook notifications (version 4) that become `alert.*` events of the key's tenant."""
