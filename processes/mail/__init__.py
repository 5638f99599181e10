"""The email outbox: every email the portal sends is a row first, delivered after commit and
retried until it goes out (or is given up, audited)."""
