"""Patients and sites: the recipients of orders."""
