"""What a job handler raises to say how its job failed.

```
JobError                  base of every job failure
├── TransientJobError     try again later, with exponential backoff and jitter
├── PermanentJobError     never retry: the job is dead at once, its reason kept in last_error
└── JobDeferred           not now: run it again at .until; this claim is not counted as an
                          attempt (quiet hours, a pause), its reason kept in last_error
```

Any other exception a handler raises counts as transient (and is logged with the job's id);
when a job has used up its ``max_attempts`` it is dead whatever it raised.
"""

from __future__ import annotations

from datetime import datetime


class JobError(Exception):
    """A job handler failed."""


class TransientJobError(JobError):
    """The job may succeed later (provider down, timeout, rate limit): retry with backoff."""


class PermanentJobError(JobError):
    """The job can never succeed (bad payload, recipient unsubscribed): do not retry."""


class JobDeferred(JobError):
    """The job must not run now, nor fail: it runs again at ``until`` (aware).

    Not a failure: the claim that raised it does not count against ``max_attempts``, so a job
    held back (a text during the night's quiet hours, sending paused) keeps all its attempts.
    """

    def __init__(self, until: datetime, reason: str) -> None:
        if until.tzinfo is None or until.utcoffset() is None:
            raise ValueError(f"until must be timezone-aware, got {until!r}")
        super().__init__(reason)
        self.until = until
