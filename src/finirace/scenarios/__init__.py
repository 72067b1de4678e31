"""The bundled catalog of scenarios (TOML files), one per known case."""
