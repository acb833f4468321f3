"""Devices: definitions (pure data from ``devices/*.yaml``), transports and sessions."""
