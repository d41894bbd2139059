"""Built-in scenarios (YAML files beside this module)."""
