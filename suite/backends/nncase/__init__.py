"""nncase backend: ONNX compiled to .kmodel for Kendryte KPUs (K230: nncase 2.x, K210: ncc 1.x)."""
