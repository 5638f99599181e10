"""The process catalog's hook points.

`request_finished(sender=CatalogRequest, process=..., approved=..., outcome=...)` is sent when a
request is finally approved or rejected, in the flow's transaction. `outcome` is the type's
`on_approved` or `on_rejected` (processes.catalog.models.Outcome). The API's outbound webhook
connects here for the types whose outcome is "webhook"; until it does, such a type notifies the
requester only.
"""

from __future__ import annotations

from django.dispatch import Signal

request_finished = Signal()
