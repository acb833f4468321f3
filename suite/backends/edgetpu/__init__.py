"""Edge TPU backend: full-integer TFLite compiled by edgetpu_compiler, run by LiteRT with libedgetpu."""
