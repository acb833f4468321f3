"""benchmark_model backend: TFLite files timed by TFLite's benchmark_model tool, driven from the controller."""
