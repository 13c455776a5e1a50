"""Demetra loader: campaign.fetched -> campaigns (idempotent, batched); sync events -> events."""
