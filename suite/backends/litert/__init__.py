"""LiteRT backend: the point's ONNX graph translated to TensorFlow and converted to TFLite, run by LiteRT."""
