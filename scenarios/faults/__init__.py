"""The fault suite: the demo once clean and once under kills, restarts and bad messages, then compared."""
