"""Arm Ethos-U backend (U55/U65/U85): full-int8 TFLite compiled by Vela; Vela's performance model as the runtime."""
