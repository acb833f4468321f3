"""Built-in catalogue entries: layers, activations, blocks and whole small networks."""
