"""Clients of third-party services. Each vendor's package knows only the vendor's API and the
settings; it imports nothing of visits or rooms."""
