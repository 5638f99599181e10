"""The process catalog's hook points.

`request_finished(sender=CatalogRequest, process=..., approved=..., outcome=...)` is sent when a
request is finally approved or rejected, in the flow's transaction. `outcome` is the type's
`on_approved` or `on_rejected` (processes.catalog.models.Outcome). A receiver that reaches
outside the database (a webhook, a message) must wait for the commit (`transaction.on_commit`, or
an outbox row written here and sent after it), like every other side effect of the portal. The
webhooks out connect here (receivers.py): the `process.completed` event of every catalog request
carries its outcome (`approved` / `rejected`) and the type's `on_finish` choice.
"""

from __future__ import annotations

from django.dispatch import Signal

request_finished = Signal()
