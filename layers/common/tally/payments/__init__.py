"""Payment providers: one protocol, one adapter per provider, one inbound notification pipeline."""
