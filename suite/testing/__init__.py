"""Test helpers shipped with hwbehave: real local services (sshd) and protocol-level fakes."""
