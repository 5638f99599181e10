"""Who calls the API: a client with a bearer token, or a person with a session."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja.security import HttpBearer, SessionAuth

from processes.api.models import ApiClient
from processes.api.problems import Problem
from processes.api.services import api_token_authenticate
from processes.api.throttle import auth_failure_count, auth_failures_retry_after


class TokenAuth(HttpBearer):
    """`Authorization: Bearer ap_…`: the client must hold `scope` (else 403)."""

    def __init__(self, scope: str) -> None:
        super().__init__()
        self.scope = scope

    def authenticate(self, request: HttpRequest, token: str) -> ApiClient | None:
        # REMOTE_ADDR is the peer: a proxy in front must set it to the real client (not a header
        # the client could forge).
        retry_after = auth_failures_retry_after(request)
        if retry_after is not None:
            raise Problem(
                429,
                f"Too many refused tokens from this address; retry in {retry_after} s.",
                slug="auth-throttled",
                headers={"Retry-After": str(retry_after)},
            )
        client = api_token_authenticate(token, request.META.get("REMOTE_ADDR"))
        if client is None:
            auth_failure_count(request)
            return None
        if not client.has_scope(self.scope):
            raise Problem(403, f"This client lacks the scope {self.scope}.")
        return client


class PersonAuth(SessionAuth):
    """The person's session (CSRF checked on unsafe methods), if the user is active."""

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and user.is_active:
            return user
        return None


def auth_for(scope: str) -> list[Any]:
    return [TokenAuth(scope), PersonAuth()]
