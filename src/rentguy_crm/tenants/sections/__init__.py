"""Typed sections of the tenant config owned by one feature each; `tenants.config.TenantConfig` holds them."""
