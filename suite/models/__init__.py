"""Build stage: the operator catalogue and the builders that turn points into model files."""
