"""The portal's languages (ADR 0021): each user's own, applied on every request and to every
email written for them, and amounts formatted for the active language."""
