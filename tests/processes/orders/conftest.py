from __future__ import annotations

from decimal import Decimal

import pytest

from processes.connectors.models import Product


@pytest.fixture
def catalogue(db):
    return {
        sku: Product.objects.create(sku=sku, name=name, unit_price=Decimal(price), on_hand=stock)
        for sku, name, price, stock in [
            ("DESK-01", "Standing desk", "499.00", 10),
            ("CHAIR-02", "Office chair", "189.00", 10),
            ("LAMP-03", "Desk lamp", "39.90", 0),  # out of stock
        ]
    }


@pytest.fixture
def place_order(catalogue):
    """Start an order the way an external system does (the StartHandle)."""
    from processes.orders.services import order_start_api

    def place(lines=(("DESK-01", 1),), email="ada@example.com", method="card"):
        return order_start_api(
            order={
                "customer_name": "Ada Lovelace",
                "customer_email": email,
                "payment_method": method,
                "shipping_address": "1 Analytical Row, London",
                "lines": [{"sku": sku, "qty": qty} for sku, qty in lines],
            }
        )

    return place
