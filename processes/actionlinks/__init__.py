"""Email action links: single-use, expiring Approve/Reject links in escalation emails."""
