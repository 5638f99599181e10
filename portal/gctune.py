"""The garbage collector tuned for a long-running web or worker process (ADR 0031).

Once Django, the apps and the URLconf are loaded, a web process holds about 180,000 objects that
live as long as it does. Python's collector walked all of them in each full collection (about
120 ms on the bench machine), one every few dozen requests, besides a young collection every 700
net allocations: 7 to 8 ms of collection per approval, about a tenth of the web processes' CPU
(docs/benchmarks.md). Nearly everything a request allocates is freed by reference counting, not
by the collector.

`gc_tune()` collects once, freezes what is left (`gc.freeze`: the loaded code and its data, never
garbage, and never looked at again), and collects the young generation every `YOUNG_THRESHOLD`
net allocations instead of 700. Cyclic garbage is still collected, a little later. Called by
portal/asgi.py once the application is loaded, and by the Celery worker (portal/celery.py) before
it forks its children (who share the frozen objects' pages) and in each child.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 10_000


def gc_tune() -> None:
    """Collect, freeze the survivors, and raise the young generation's threshold."""
    gc.collect()
    gc.freeze()
    _young, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
