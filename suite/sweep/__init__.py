"""Plan stage: sweep YAML files expanded into frozen, content-identified points."""
