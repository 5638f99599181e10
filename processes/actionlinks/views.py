"""The link endpoint: GET shows a confirmation page, only POST acts. No session is needed.

Mail scanners and preview panes fetch links (GET, HEAD) before people do, so a GET only
renders and audits the visit; the POST comes from the confirmation form (CSRF-protected).
"""

from __future__ import annotations

import structlog
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.views.decorators.http import require_http_methods

from processes.actionlinks import selectors, services
from processes.actionlinks.forms import ActionLinkForm
from processes.actionlinks.ratelimit import link_request_count
from processes.actionlinks.selectors import Refusal

logger = structlog.get_logger(__name__)


def client_ip(request: HttpRequest) -> str:
    # REMOTE_ADDR only: behind a proxy, the proxy must set it (uvicorn --proxy-headers with
    # --forwarded-allow-ips), so a client cannot pick its own rate-limit bucket by header.
    return request.META.get("REMOTE_ADDR", "")


def _page(request: HttpRequest, template: str, context: dict, status: int = 200) -> HttpResponse:
    response = TemplateResponse(request, f"processes/actionlinks/{template}", context, status=status)
    # The secret is in the path: keep it out of caches, other sites' Referer headers and search
    # engines. (Not "no-referrer": browsers then send `Origin: null` with the confirmation POST,
    # which Django's CSRF check rightly refuses; the page loads nothing from other origins.)
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "same-origin"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


def _refusal_page(request: HttpRequest, token, refusal: Refusal) -> HttpResponse:
    portal_path = "/"
    if token is not None:
        from processes.notifications.selectors import process_url

        portal_path = process_url(token.task.process) or "/"
    context = {"refusal": refusal, "reason": refusal.reason, **refusal.facts, "portal_path": portal_path}
    return _page(request, "refused.html", context, status=refusal.status)


def _refused(request: HttpRequest, token, refusal: Refusal, ip: str) -> HttpResponse:
    services.action_link_refused(token=token, refusal=refusal, ip=ip)
    return _refusal_page(request, token, refusal)


@login_not_required
@require_http_methods(["GET", "HEAD", "POST"])
def action_link(request: HttpRequest, token: str) -> HttpResponse:
    ip = client_ip(request)
    token_key = selectors.token_hash(token)
    verdict = link_request_count(ip=ip, token_key=token_key)
    if verdict.limited:
        if verdict.first:  # once per window, so a flood cannot flood the audit trail or the log
            link = selectors.action_token_for(raw=token)
            if link is not None:  # the process's history shows its link was hammered
                services.action_link_refused(token=link, refusal=Refusal("rate_limited", 429), ip=ip)
            else:
                logger.warning(
                    "actionlink.rate_limited", ip=ip, scope=verdict.scope, token_hash=token_key[:12]
                )
        response = _page(request, "rate_limited.html", {}, status=429)
        response["Retry-After"] = str(settings.ACTION_LINK_RATE_LIMIT_WINDOW)
        return response
    link = selectors.action_token_for(raw=token)
    if link is None:
        # No process to attach it to, and an append-only row per guess would let anyone grow
        # the audit table: a log line only.
        logger.warning("actionlink.unknown", ip=ip, token_hash=token_key[:12], token_length=len(token))
        return _refusal_page(request, None, Refusal("unknown", 404))
    refusal = selectors.link_refusal(token=link, viewer=request.user)
    if refusal is not None:
        return _refused(request, link, refusal, ip)
    summary = selectors.link_summary(task=link.task)
    context = {**summary, "link": link, "addressee": selectors.display_name(link.user)}
    if request.method != "POST":
        services.action_link_opened(token=link, ip=ip, method=request.method or "")
        return _page(request, "confirm.html", {**context, "form": ActionLinkForm(approves=link.approves)})
    form = ActionLinkForm(request.POST, approves=link.approves)
    if not form.is_valid():
        return _page(request, "confirm.html", {**context, "form": form}, status=400)
    refusal = services.action_link_use(
        token=link, comment=form.cleaned_data["comment"], ip=ip, viewer=request.user
    )
    if refusal is not None:  # found under the flow lock; the service audited it
        return _refusal_page(request, link, refusal)
    return _page(request, "done.html", context)
