"""Sections of the tenant provisioning document owned by one feature each (one pydantic model per file)."""
