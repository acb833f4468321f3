"""Transports: how the host reaches a device (local, ssh, adb; labgrid resolves to ssh)."""
