"""Shared plumbing of the Ringflow server: settings, database, migrations and logging.

Nothing here knows about channels or workflows; ``server.py`` wires the packages together.
"""
