"""Shared plumbing of the Ringflow server: settings, database, migrations and logging.

The plumbing modules know nothing about channels or workflows. Three sub-packages sit on the
other side and may import the domain packages (which never import them): ``admin/`` (the
admin API), ``cli/`` (the ``ringflow`` command) and ``resources/`` (what a process holds,
composed by ``server.py``).
"""
