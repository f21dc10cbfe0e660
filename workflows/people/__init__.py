"""The people who answer conversations: agents, their presence, teams, and how a team picks
the agent for a conversation (:mod:`workflows.people.assignment`).

Channel-neutral: chat and SMS assign conversations, voice will ring the same agents' endpoints,
and all of them read the same presence (``available``, ``away``, ``offline``).
"""
