"""Webhooks out (issue 14): API clients subscribe to the portal's events; each delivery is a row
written in the change's transaction and sent after commit, signed the Standard Webhooks way."""
