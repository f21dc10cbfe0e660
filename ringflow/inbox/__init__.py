"""The agent inbox: a page served at ``/inbox`` (a small script over the conversations API,
signed in with a browser session) and its live updates (``/inbox/live``, Server-Sent Events
fed by the ``conversations`` change topic). See ``docs/inbox.md``."""
