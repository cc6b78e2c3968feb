"""Webhook and e-mail delivery (an outbox in the catalog, delivered by ``serve``) and event
notifications for partner automation (audit events -> webhooks)."""
