"""RKNN backend: ONNX converted to .rknn by rknn-toolkit2 in its own venv, run by RKNNLite on Rockchip NPUs."""
