"""Outbound messaging: the channel contract, the outbox and the sending policy."""
