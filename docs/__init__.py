"""Documentation helpers (``python -m docs.generate_schema``)."""
