"""Browser test fixtures (filled in with the web UI)."""
