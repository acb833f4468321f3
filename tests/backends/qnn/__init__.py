"""Tests of the qnn backend (Qualcomm QNN EP, HTP backend; emulated on x86)."""
