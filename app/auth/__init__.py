"""Who may do what: staff users with roles, and API keys for other systems."""
