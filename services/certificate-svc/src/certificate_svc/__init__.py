"""Certificates: licences, their versions and photos."""
