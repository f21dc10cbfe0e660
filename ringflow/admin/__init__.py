"""Admin API endpoints over plain domain functions, one module per area (``jobs``...)."""
