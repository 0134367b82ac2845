"""Where `integrations.registry` still finds the channel settings; they live in `tenants.sections.channels`.
Removed once the registry imports them from there."""

from rentguy_crm.tenants.sections.channels import ChannelsConfig, ChatChannel, EmailChannel, WhatsappChannel

__all__ = ["ChannelsConfig", "ChatChannel", "EmailChannel", "WhatsappChannel"]
