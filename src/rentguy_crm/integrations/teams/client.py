"""`ChatNotifier` over Microsoft Teams incoming webhooks (Workflows webhooks): an Adaptive Card message."""

from __future__ import annotations

from rentguy_crm.integrations.slack.client import SlackWebhookNotifier


class TeamsWebhookNotifier(SlackWebhookNotifier):
    channel = "teams"

    def payload(self, text: str, target: str | None) -> dict[str, object]:
        card = {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard",
                "version": "1.4", "body": [{"type": "TextBlock", "text": text, "wrap": True}]}
        return {"type": "message",
                "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "content": card}]}
