"""What a job handler raises to say how its job failed.

```
JobError                  base of every job failure
├── TransientJobError     try again later, with exponential backoff and jitter
└── PermanentJobError     never retry: the job is dead at once, its reason kept in last_error
```

Any other exception a handler raises counts as transient (and is logged with the job's id);
when a job has used up its ``max_attempts`` it is dead whatever it raised.
"""

from __future__ import annotations


class JobError(Exception):
    """A job handler failed."""


class TransientJobError(JobError):
    """The job may succeed later (provider down, timeout, rate limit): retry with backoff."""


class PermanentJobError(JobError):
    """The job can never succeed (bad payload, recipient unsubscribed): do not retry."""
