"""Every flow of the portal, in one place: viewflow autodiscovers `flows` modules, and importing
them early registers their permissions (viewflow adds `manage_<process>` when a flow class is
created) before migrations create permissions."""

from processes.orders.flows import OrderFlow
from processes.purchase.flows import PurchaseFlow

FLOWS = [PurchaseFlow, OrderFlow]

__all__ = ["FLOWS", "OrderFlow", "PurchaseFlow"]
