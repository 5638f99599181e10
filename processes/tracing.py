"""Traces, as the core sees them: spans of its own, the correlation id on the current span, and the
trace and span ids in every log line (docs/decisions/0019-traces.md).

This module uses only the OpenTelemetry *API*. The project sets the SDK up once per process
(`portal/tracing.py`), and only when `OTEL_EXPORTER_OTLP_ENDPOINT` is set; until then the API's
tracer hands out one shared non-recording span, so everything here costs a function call and a
context lookup, and no log line gets ids that lead nowhere.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any

from opentelemetry import propagate, trace

# The span attribute that carries the process's correlation id (as the log lines' `correlation_id`).
CORRELATION_ATTRIBUTE = "portal.correlation_id"

_tracer = trace.get_tracer("processes")


@contextlib.contextmanager
def span(
    name: str,
    *,
    kind: trace.SpanKind = trace.SpanKind.INTERNAL,
    parent: str = "",
    attributes: Mapping[str, Any] | None = None,
) -> Iterator[trace.Span]:
    """A span of the core around a block (`email.send`, `webhook.send`). `parent`: a stored W3C
    traceparent (`traceparent_current()`) to continue that trace instead of the current one; the
    attributes that are None are left out."""
    if isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        yield trace.INVALID_SPAN  # tracing is off in this process: not even a context to attach
        return
    context = propagate.extract({"traceparent": parent}) if parent else None
    with _tracer.start_as_current_span(name, context=context, kind=kind) as current:
        if attributes and current.is_recording():
            current.set_attributes({key: value for key, value in attributes.items() if value is not None})
        yield current


def correlation_set(correlation_id: str) -> None:
    """Put the process's correlation id on the current span (the request's or the job's), so a
    trace can be found from the id the logs and the audit trail show."""
    if correlation_id:
        current = trace.get_current_span()
        if current.is_recording():
            current.set_attribute(CORRELATION_ATTRIBUTE, correlation_id)


def traceparent_current() -> str:
    """The current span as a W3C traceparent header value ('' when no span records), to store with
    work that another process finishes later (an outbox row)."""
    carrier: dict[str, str] = {}
    if trace.get_current_span().get_span_context().is_valid:
        propagate.inject(carrier)
    return carrier.get("traceparent", "")


def headers_inject(headers: MutableMapping[str, str]) -> None:
    """Add the current trace's W3C headers (traceparent, tracestate) to an outgoing request's."""
    if trace.get_current_span().get_span_context().is_valid:
        propagate.inject(headers)


def trace_ids_add(logger: Any, method_name: str, event_dict: MutableMapping[str, Any]) -> Any:
    """structlog processor: `trace_id` and `span_id` (hex, as trace viewers show them) beside the
    correlation id, whenever a span is current."""
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event_dict.setdefault("trace_id", format(context.trace_id, "032x"))
        event_dict.setdefault("span_id", format(context.span_id, "016x"))
    return event_dict


def span_failed(current: trace.Span, error: str) -> None:
    """Mark `current` failed with a short description (an unanswered or refused call)."""
    if current.is_recording():
        current.set_status(trace.Status(trace.StatusCode.ERROR, error[:200]))


__all__ = [
    "CORRELATION_ATTRIBUTE",
    "correlation_set",
    "headers_inject",
    "span",
    "span_failed",
    "trace_ids_add",
    "traceparent_current",
]
