"""Who changed what and when, for patients, sites, items, kits, users and API keys."""
