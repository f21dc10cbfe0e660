"""The PBX channel: an Asterisk PBX followed over AMI (docs/asterisk.md).

Like every channel it only translates: AMI events become calls in the call log and their
post-call events (through the session layer's ``call.event`` jobs), queue membership becomes
agent presence and back. It never imports another channel.

``client.py``    the ``asterisk-ami`` connection, its defects worked around, bridged to asyncio
``calls.py``     calls followed from AMI events (pure), their outcomes, the resync
``store.py``     the call log and the post-call event, idempotent by Asterisk's ids
``presence.py``  agent status <-> queue member pause (pure)
``service.py``   the adapter: connect, catch up, follow, ping, reconnect, Originate
``ownership.py`` one process follows a PBX (a PostgreSQL advisory lock)
``errors.py``    the exception tree
"""
