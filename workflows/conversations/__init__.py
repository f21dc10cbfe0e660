"""Conversations, channel-neutral: one per contact thread on a channel, its state (open,
snoozed until a time, closed), assignee (an agent, a team), priority, tags, internal notes and
a timeline in which every change is an event (who, when, what).

* :mod:`.model` reads a conversation; :mod:`.events` writes the timeline;
* :mod:`.actions` are what agents and admins do (reply, note, assign, ...);
* :mod:`.customer` records what the contact sent (and reopens, or starts afresh);
* :mod:`.inbox` lists conversations with filters and a cursor;
* :mod:`.channels` is the registry through which a channel sends an agent's reply and adds
  its messages and calls to the timeline (filled by the composition root: the core imports no
  channel).
"""
