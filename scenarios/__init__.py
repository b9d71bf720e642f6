"""Scenarios that drive a running Bangke stack through its gateway, as the clients would."""
