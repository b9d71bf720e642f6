"""Use cases of certificate-svc: load, check, act, store with the outbox, kick the relay."""
