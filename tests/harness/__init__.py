"""Test harness: real servers, isolated names, tokens and service processes."""
