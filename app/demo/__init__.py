"""Demo data: a realistic remote-patient-monitoring catalog, sites, patients and users."""
