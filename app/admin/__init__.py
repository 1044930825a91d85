"""Admins' pages: staff users and API keys."""
