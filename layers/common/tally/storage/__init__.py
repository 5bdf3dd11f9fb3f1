"""DynamoDB access: key schema, clients, error classification."""
