"""Qualifications: applications, the 10-per-engineer cap, validity, expiry."""
