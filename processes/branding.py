"""The product's name, as pages, emails and the admin show it."""

PRODUCT_NAME = "Approvals Portal"
