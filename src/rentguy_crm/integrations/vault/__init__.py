"""HashiCorp Vault as the reader and writer of `vault:path#key` secret references (KV version 2 engine, hvac)."""

from rentguy_crm.integrations.vault.client import SecretStoreUnavailable, VaultSecretStore, install

__all__ = ["SecretStoreUnavailable", "VaultSecretStore", "install"]
