"""The on-device agent: times artifacts with the measurement protocol and streams JSONL.

Everything in this package runs on the measured host, so it must work on Python >= 3.7
with only the standard library, numpy and the runtime under test, and it imports its
siblings relatively: the host zips the package into one ``.pyz`` file
(:mod:`suite.devices.agent_bundle`) and runs that same file locally and on remote hosts.
"""
