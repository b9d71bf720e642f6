"""Message contracts shared by the Bangke services: the envelope, topic names and event schemas."""
