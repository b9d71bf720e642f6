"""Identity: accounts, real-name authentication, providers, outlets, regions, tokens."""
