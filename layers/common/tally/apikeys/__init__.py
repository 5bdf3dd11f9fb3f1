"""API keys for servers: secrets, their keyed hashes, storage, and the authorizer's check."""
