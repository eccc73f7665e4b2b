"""The core: app wiring, identity, the durable inbox and outbox, the dispatcher and the commands."""
