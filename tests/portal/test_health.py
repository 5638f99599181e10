"""/healthz answers without dependencies; /readyz names every dependency that fails."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

pytestmark = pytest.mark.django_db


def test_healthz_answers_without_touching_the_database(client):
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert len(queries) == 0
    assert "no-cache" in response["Cache-Control"]


def test_readyz_is_ok_when_every_dependency_answers(client):
    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_names_the_broker_but_not_where_it_is(client, settings):
    settings.CELERY_BROKER_URL = "redis://:s3cret@127.0.0.1:1/0"

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json() == {"status": "fail", "failing": ["broker"]}
    for leak in ("127.0.0.1", ":1", "redis", "s3cret", "refused", "CELERY_BROKER_URL"):
        assert leak not in response.content.decode()


def test_readyz_names_the_channel_layer_when_it_fails(client, settings):
    from channels.layers import channel_layers

    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": ["redis://127.0.0.1:1/0"]},
        }
    }
    channel_layers.backends.clear()
    try:
        response = client.get("/readyz")
    finally:
        channel_layers.backends.clear()

    assert response.status_code == 503
    assert response.json() == {"status": "fail", "failing": ["channel_layer"]}


def test_preflight_keeps_the_details_for_operators(settings):
    """The operator command still says which variable points where and why it failed."""
    from portal.health import run_checks

    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"

    broker = {r.name: r for r in run_checks()}["broker"]

    assert broker.ok is False
    assert broker.detail.startswith("CELERY_BROKER_URL unreachable (redis://127.0.0.1:1/0)")
