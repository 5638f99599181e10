"""OpenTelemetry set up once per process: the web server, each worker, beat (ADR 0019).

Off unless `OTEL_EXPORTER_OTLP_ENDPOINT` is set: then no tracer provider, no instrumentation, no
exporter, and the core's spans (`processes/tracing.py`) are the API's shared non-recording span.
On: a TracerProvider named after the role (`OTEL_SERVICE_NAME`, or portal-web, portal-worker,
portal-beat), spans batched to the OTLP/HTTP exporter (which reads the standard OTEL_EXPORTER_OTLP_*
variables itself: endpoint, headers, timeout), and the Django (with ASGI), Celery, psycopg, Redis
and urllib instrumentations. Celery carries the W3C context in its message headers, so a job's
spans are children of the request that queued it.

Where it is called: `portal/asgi.py` before Django loads its middleware (the Django
instrumentation adds one), and `portal/celery.py` from the worker's and beat's start signals.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.sdk.trace import SpanProcessor
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult

from processes.actionlinks.logredact import LINK_SECRET, REDACTED

if TYPE_CHECKING:
    from collections.abc import Sequence

    from opentelemetry.context import Context
    from opentelemetry.sdk.trace import Span, TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.trace import Link
    from opentelemetry.trace.span import TraceState
    from opentelemetry.util.types import Attributes

logger = logging.getLogger(__name__)

ROLES = ("web", "worker", "beat")
_provider: TracerProvider | None = None


def tracing_enabled() -> bool:
    from django.conf import settings

    return bool(settings.OTEL_EXPORTER_OTLP_ENDPOINT)


def tracing_setup(role: str, *, exporter: SpanExporter | None = None) -> TracerProvider | None:
    """Set tracing up for this process, once; returns the provider (None when tracing is off).

    `exporter` replaces the OTLP exporter and turns tracing on whatever the settings say (tests
    pass an in-memory one); its spans are exported one by one, as they end.
    """
    global _provider
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, got {role!r}")
    if _provider is not None:
        return _provider
    if exporter is None and not tracing_enabled():
        return None

    from django.conf import settings
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    resource = Resource.create({SERVICE_NAME: settings.OTEL_SERVICE_NAME or f"portal-{role}"})
    provider = TracerProvider(resource=resource, sampler=NoOrphanClientSpans(_sampler_from_env()))
    provider.add_span_processor(LinkSecretsRedacted())  # before any exporter sees a span
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    instrument(provider)
    _provider = provider
    logger.info("tracing.enabled role=%s service=%s", role, resource.attributes[SERVICE_NAME])
    return provider


def _sampler_from_env() -> Sampler:
    """OTEL_TRACES_SAMPLER (and its _ARG), as the SDK reads them: parentbased_always_on by default."""
    from opentelemetry.sdk.trace import sampling

    return sampling._get_from_env_or_default()


class NoOrphanClientSpans(Sampler):
    """A sampler that drops a client span with no parent, and asks `sampler` about every other.

    Without it, each Redis command of the broker's and channel layer's polling and each query
    outside a request or job (a worker's heartbeat, a probe) would be a trace of its own. A call
    inside a request or a job has a parent, so it stays in that trace.
    """

    def __init__(self, sampler: Sampler) -> None:
        self._sampler = sampler

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: trace.SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        orphan = not trace.get_current_span(parent_context).get_span_context().is_valid
        if kind == trace.SpanKind.CLIENT and orphan:
            return SamplingResult(Decision.DROP)
        return self._sampler.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        return f"NoOrphanClientSpans{{{self._sampler.get_description()}}}"


def link_secrets_redact(span: Any, *args: Any) -> None:
    """An email link's secret is in its path (`/links/<secret>/`), and a request span's
    attributes hold the path: it becomes `/links/[redacted]/`, as in the logs (ADR 0007).
    Also the Django instrumentation's request hook: under ASGI it sets the URL attributes after
    the span started, so the span processor below does not see them."""
    if not span.is_recording():
        return
    for key, value in (span.attributes or {}).items():
        if isinstance(value, str) and "/links/" in value:
            span.set_attribute(key, LINK_SECRET.sub(REDACTED, value))
    if "/links/" in span.name:
        span.update_name(LINK_SECRET.sub(REDACTED, span.name))


class LinkSecretsRedacted(SpanProcessor):
    """`link_secrets_redact` on every span as it starts (the other instrumentations' URLs)."""

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        link_secrets_redact(span)


INSTRUMENTATIONS = ("django", "celery", "psycopg", "redis", "urllib")


def _instrumentors() -> dict[str, Any]:
    from opentelemetry.instrumentation.celery import CeleryInstrumentor
    from opentelemetry.instrumentation.django import DjangoInstrumentor
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.instrumentation.urllib import URLLibInstrumentor

    return {
        "django": DjangoInstrumentor(),
        "celery": CeleryInstrumentor(),
        "psycopg": PsycopgInstrumentor(),
        "redis": RedisInstrumentor(),
        "urllib": URLLibInstrumentor(),
    }


def instrument(provider: TracerProvider) -> None:
    """Turn the instrumentations on (each once per process), less those that
    OTEL_PYTHON_DISABLED_INSTRUMENTATIONS names."""
    from django.conf import settings

    options: dict[str, dict[str, Any]] = {
        # /healthz and /readyz are polled every few seconds by probes and balancers: no traces.
        "django": {"excluded_urls": "healthz,readyz,metrics", "request_hook": link_secrets_redact},
        # enable_commenter stays off: SQL comments would make every statement's text unique.
        "psycopg": {"skip_dep_check": True},
    }
    for name, instrumentor in _instrumentors().items():
        if name not in settings.OTEL_PYTHON_DISABLED_INSTRUMENTATIONS:
            instrumentor.instrument(tracer_provider=provider, **options.get(name, {}))


def uninstrument() -> None:
    """Turn the instrumentations off again (tests: the rest of the run goes untraced)."""
    for instrumentor in _instrumentors().values():
        instrumentor.uninstrument()
