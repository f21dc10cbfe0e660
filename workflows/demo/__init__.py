"""The demo workflow, loaded when the server starts without --flows."""
