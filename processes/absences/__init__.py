"""Out-of-office substitutes (ADR 0023): while a user is absent, the tasks that would go to them
go to their substitute, who acts "on behalf of" them."""
