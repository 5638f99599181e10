"""The NEW code's half of the upgrade test (tests/services/test_upgrade.py): does the old state work?

Run from the tree under test, which must be the current directory, against the database that
tests/upgrade/old_scenario.py filled with the old code and that the new code then migrated:

    python <this file> state <old.json>   # before any worker runs: is everything still there?
    python <this file> act <old.json>     # with a new worker running: does everything go on?

Each phase prints one JSON line, {"phase", "passed": [names], "failed": [{"check", "detail"}],
"facts"}, and exits 1 when a check failed. Independent checks all run, so one report shows
everything the upgrade broke.

Robust to the split of issue 12 by construction: processes are found through their model
classes, flows and nodes through the flow classes (processes.purchase.flows,
processes.orders.flows; never processes.flows), and the stored references are compared with
what the current code would store (viewflow's get_flow_ref / get_task_ref), never with a
hard-coded app label.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import sqlite3
import sys
import time
import traceback
from decimal import Decimal
from pathlib import Path
from typing import Any

WORKER_TIMEOUT = 60  # seconds for the worker to take a process through its automated steps
# Nodes the current flows dropped, by a migration that checked none of their tasks was still
# open (processes/plugin_migrations.py `node_retirement`): the approval chains' `has_next_stage`
# If, joined into the `route` step (ADR 0034). Their finished tasks load as viewflow's Obsolete
# node of the same name.
RETIRED_NODES = {"has_next_stage"}


class Report:
    """Collects named checks; a failing check records its detail and the phase goes on."""

    def __init__(self, phase: str) -> None:
        self.phase = phase
        self.passed: list[str] = []
        self.failed: list[dict[str, str]] = []
        self.facts: dict[str, Any] = {}

    def check(self, name: str, ok: bool, detail: Any = "") -> bool:
        if ok:
            self.passed.append(name)
        else:
            self.failed.append({"check": name, "detail": str(detail)})
        return ok

    @contextlib.contextmanager
    def step(self, name: str):
        """A group of checks: an exception inside fails `name` with its traceback."""
        try:
            yield
        except Exception:
            self.failed.append({"check": name, "detail": traceback.format_exc()})

    def finish(self) -> None:
        print(
            json.dumps(
                {"phase": self.phase, "passed": self.passed, "failed": self.failed, "facts": self.facts},
                default=str,
            )
        )
        sys.exit(1 if self.failed else 0)


def django_setup() -> None:
    code = Path.cwd().resolve()
    sys.path[0] = str(code)  # the tree under test, not this file's folder
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    import django

    django.setup()
    import processes

    imported = Path(processes.__file__).resolve()
    if code not in imported.parents:
        raise SystemExit(f"imported {imported}, not the code in {code}: check PYTHONPATH")


def wait_for(predicate, timeout: float, what: str, interval: float = 0.25):
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


# ---------------------------------------------------------------- the current code's view


def flows() -> dict[str, type]:
    from processes.orders.flows import OrderFlow
    from processes.purchase.flows import PurchaseFlow

    return {"purchase": PurchaseFlow, "order": OrderFlow}


def models() -> dict[str, type]:
    from processes.orders.models import OrderProcess
    from processes.purchase.models import PurchaseProcess

    return {"purchase": PurchaseProcess, "order": OrderProcess}


def raw_refs() -> tuple[dict[int, str], dict[int, str], dict[int, str]]:
    """Flow and node references as stored in the database (viewflow's fields would resolve them)."""
    from django.db.models import CharField
    from django.db.models.functions import Cast
    from viewflow.workflow.models import Process, Task

    from processes.tasklist.models import TaskRow

    def raw(queryset, field):
        return dict(queryset.annotate(raw=Cast(field, CharField())).values_list("pk", "raw"))

    return (
        raw(Process.objects, "flow_class"),
        raw(Task.objects, "flow_task"),
        raw(TaskRow.objects, "flow_class"),
    )


def users(old: dict) -> dict[str, Any]:
    from django.contrib.auth import get_user_model

    by_pk = get_user_model().objects.in_bulk(list(old["users"].values()))
    return {name: by_pk[pk] for name, pk in old["users"].items()}


def permission_exists(permission: str) -> bool:
    from django.contrib.auth.models import Permission

    app_label, _, codename = permission.partition(".")
    return Permission.objects.filter(content_type__app_label=app_label, codename=codename).exists()


def task_sets(people: dict[str, Any]) -> dict[str, dict[str, set[int]]]:
    """What each person's task list pages show (task ids)."""
    from processes.tasklist import selectors

    return {
        name: {
            "inbox": set(selectors.task_rows_inbox(user).values_list("task_id", flat=True)),
            "queue": set(selectors.task_rows_queue(user).values_list("task_id", flat=True)),
        }
        for name, user in people.items()
    }


def broker_messages(url: str) -> list[dict[str, Any]]:
    """The Celery messages waiting in the default queue, without consuming them."""
    if url.startswith("redis://"):
        import redis

        raw = redis.Redis.from_url(url).lrange("celery", 0, -1)
    elif url.startswith("sqla+sqlite:///"):
        with sqlite3.connect(url.removeprefix("sqla+sqlite:///")) as db:
            raw = [
                row[0]
                for row in db.execute(
                    "SELECT m.payload FROM kombu_message m JOIN kombu_queue q ON q.id = m.queue_id "
                    "WHERE q.name = 'celery' AND m.visible = 1 ORDER BY m.id"
                )
            ]
    else:
        raise AssertionError(f"no way to look into the broker {url}")
    messages = []
    for payload in raw:
        envelope = json.loads(payload)
        args, _kwargs, _embed = json.loads(base64.b64decode(envelope["body"]))
        messages.append({"id": envelope["headers"]["id"], "task": envelope["headers"]["task"], "args": args})
    return messages


# ---------------------------------------------------------------- phase 1: state


def phase_state(old: dict, report: Report) -> None:
    from django.contrib.auth.models import Group, Permission
    from django.contrib.contenttypes.models import ContentType
    from django.utils.dateparse import parse_datetime
    from viewflow.workflow.fields import get_flow_ref, get_task_ref, import_flow_by_ref
    from viewflow.workflow.models import Task
    from viewflow.workflow.status import STATUS

    from processes.actionlinks.models import ActionToken
    from processes.models import AuditEvent, Notification
    from processes.policies.models import is_candidate_permission
    from processes.tasklist.models import TaskRow
    from processes.tasklist.selectors import flows_visible_to

    flow_of, model_of = flows(), models()
    snapshot = old["snapshot"]["processes"]
    flow_refs, node_refs, row_refs = raw_refs()
    report.facts["flow_refs"] = sorted(set(flow_refs.values()))

    with report.step("processes"):
        for kind, model in model_of.items():
            expected = {int(pk) for pk, entry in snapshot.items() if entry["kind"] == kind}
            found = set(model.objects.filter(flow_class=flow_of[kind]).values_list("pk", flat=True))
            report.check(f"{kind} processes found by their flow class", found == expected, (found, expected))
        for pk, entry in snapshot.items():
            flow = flow_of[entry["kind"]]
            process = model_of[entry["kind"]].objects.filter(pk=pk).first()
            if not report.check(f"process {pk} kept", process is not None, "missing"):
                continue
            report.check(f"process {pk} status", process.status == entry["status"], process.status)
            report.check(
                f"process {pk} stores its flow as the current code would",
                flow_refs[int(pk)] == get_flow_ref(flow),
                f"{flow_refs[int(pk)]!r} != {get_flow_ref(flow)!r} (was {entry['flow_ref']!r})",
            )
            report.check(f"process {pk} flow resolves", process.flow_class is flow, f"{process.flow_class!r}")

    open_people_tasks = []
    with report.step("tasks"):
        for pk, entry in snapshot.items():
            flow, model = flow_of[entry["kind"]], model_of[entry["kind"]]
            tasks = Task.objects.in_bulk([task["pk"] for task in entry["tasks"]])
            for old_task in entry["tasks"]:
                name = f"process {pk} task {old_task['pk']} ({old_task['node']})"
                task = tasks.get(old_task["pk"])
                if not report.check(f"{name} kept", task is not None, "missing"):
                    continue
                if old_task["node"] in RETIRED_NODES:
                    retired = task.flow_task
                    report.check(
                        f"{name} loads as the retired node",
                        retired is not None
                        and (retired.task_type, retired.name, retired.flow_class)
                        == ("OBSOLETE", old_task["node"], flow),
                        retired,
                    )
                    report.check(
                        f"{name} stores its node as the current code would",
                        node_refs[task.pk] == f"{get_flow_ref(flow)}.{old_task['node']}",
                        f"{node_refs[task.pk]!r} (was {old_task['node_ref']!r})",
                    )
                    report.check(
                        f"{name} finished, as it was",
                        task.status == old_task["status"] and task.status in ("DONE", "CANCELED"),
                        task.status,
                    )
                    continue
                node = getattr(flow, old_task["node"], None)
                report.check(f"{name} node exists", node is not None, f"{flow.__name__} has no node")
                report.check(
                    f"{name} resolves to the node",
                    node is not None and task.flow_task == node,
                    task.flow_task,
                )
                report.check(
                    f"{name} stores its node as the current code would",
                    node is not None and node_refs[task.pk] == get_task_ref(node),
                    f"{node_refs[task.pk]!r} (was {old_task['node_ref']!r})",
                )
                owner = task.owner.username if task.owner_id else None
                report.check(f"{name} status", task.status == old_task["status"], task.status)
                report.check(f"{name} owner", owner == old_task["owner"], owner)
                permission = task.owner_permission or ""
                if not old_task["owner_permission"]:
                    report.check(f"{name} has no permission", permission == "", permission)
                elif is_candidate_permission(old_task["owner_permission"]):
                    # Stays `processes.candidate_<id>`. Careful: these permissions hang on the
                    # purchase process's content type (policies.services.candidate_permission_grant),
                    # so relabelling that content type alone would rename them all.
                    report.check(
                        f"{name} candidate permission kept",
                        permission == old_task["owner_permission"] and permission_exists(permission),
                        permission,
                    )
                else:  # the node's own permission, relabelled with its model
                    declared = getattr(node, "_owner_permission", None)
                    content_type = ContentType.objects.filter(
                        app_label=model._meta.app_label, model=model._meta.model_name
                    ).first()
                    app_label, _, codename = permission.partition(".")
                    report.check(
                        f"{name} permission is its node's",
                        permission == declared
                        and codename == old_task["owner_permission"].partition(".")[2]
                        and Permission.objects.filter(content_type=content_type, codename=codename).exists(),
                        f"{permission!r}, node declares {declared!r}, was {old_task['owner_permission']!r}",
                    )
                if old_task["type"] == "HUMAN":
                    row = TaskRow.objects.filter(task_id=task.pk).first()
                    if not report.check(f"{name} task list row kept", row is not None, "missing"):
                        continue
                    report.check(
                        f"{name} task list row flow",
                        row_refs[task.pk] == get_flow_ref(flow) and row.flow is flow,
                        row_refs[task.pk],
                    )
                    report.check(
                        f"{name} task list row routing",
                        (row.owner_permission, row.owner_id, row.status)
                        == (permission, task.owner_id, task.status),
                        (row.owner_permission, row.owner_id, row.status),
                    )
                    if task.status in (STATUS.NEW, STATUS.ASSIGNED):
                        open_people_tasks.append(task.pk)
        for kind, flow in flow_of.items():
            for node_name in ("approve", "revise") if kind == "purchase" else ("review_fraud",):
                expected = {
                    task["pk"]
                    for entry in snapshot.values()
                    if entry["kind"] == kind
                    for task in entry["tasks"]
                    if task["node"] == node_name
                }
                found = set(
                    Task.objects.filter(flow_task=getattr(flow, node_name)).values_list("pk", flat=True)
                )
                report.check(f"{node_name} tasks found by their node", found == expected, (found, expected))

    people = users(old)
    ids = old["tasks"]
    with report.step("task lists"):
        seen = task_sets(people)
        report.facts["task_lists"] = {
            name: {k: sorted(v) for k, v in pages.items()} for name, pages in seen.items()
        }
        expected = {
            "alice": {"inbox": {ids["rejected_revise"]}, "queue": set()},
            "olivia": {
                "inbox": {ids["held_approve"]},
                "queue": {ids["queue_approve"], ids["armed_approve"], ids["emailed_approve"]},
            },
            "maria": {"inbox": set(), "queue": {ids["emailed_approve"]}},  # the email added managers
            "fiona": {"inbox": set(), "queue": {ids["order_review"]}},
            "frank": {"inbox": set(), "queue": set()},
            "ava": {"inbox": set(), "queue": set()},
        }
        for name, pages in expected.items():
            for page, task_ids in pages.items():
                report.check(f"{name}'s {page}", seen[name][page] == task_ids, (seen[name][page], task_ids))
        shown = set().union(*(pages["inbox"] | pages["queue"] for pages in seen.values()))
        report.check(
            "every open task is on someone's list", set(open_people_tasks) <= shown, open_people_tasks
        )

    with report.step("permissions"):
        from processes.registry import registry

        for group_name, permissions in registry.roles().items():
            group = Group.objects.get(name=group_name)
            for permission in permissions:
                app_label, _, codename = permission.partition(".")
                report.check(
                    f"group {group_name} holds {permission}",
                    group.permissions.filter(content_type__app_label=app_label, codename=codename).exists(),
                    "not granted (or no such permission)",
                )
        purchase, order = flow_of["purchase"], flow_of["order"]
        report.check("alice may start purchases", purchase.start.can_execute(people["alice"]), "")
        report.check("ava may start purchases", purchase.start.can_execute(people["ava"]), "")
        report.check("olivia may not start purchases", not purchase.start.can_execute(people["olivia"]), "")
        for name, flow in (("alice", purchase), ("olivia", purchase), ("maria", purchase), ("fiona", order)):
            report.check(f"{name} sees {flow.__name__}", flow in flows_visible_to(people[name]), "")
        report.check("frank does not see orders", order not in flows_visible_to(people["frank"]), "")
        report.check("maria manages purchases", purchase.instance.has_manage_permission(people["maria"]), "")
        report.check(
            "olivia does not manage", not purchase.instance.has_manage_permission(people["olivia"]), ""
        )

    with report.step("content types"):
        from django.apps import apps

        moved = [
            m
            for m in apps.get_models()
            if m.__module__.startswith(("processes.purchase.", "processes.orders."))
        ]
        report.facts["content_types"] = sorted(f"{m._meta.app_label}.{m._meta.model_name}" for m in moved)
        for model in moved:
            rows = list(ContentType.objects.filter(model=model._meta.model_name))
            report.check(
                f"one content type for {model.__name__}, under its app label",
                [row.app_label for row in rows] == [model._meta.app_label],
                [f"{row.app_label}.{row.model}" for row in rows],
            )
            codenames = [f"{action}_{model._meta.model_name}" for action in model._meta.default_permissions]
            codenames += [codename for codename, _ in model._meta.permissions]
            for codename in codenames:
                holders = list(Permission.objects.filter(codename=codename).select_related("content_type"))
                report.check(
                    f"permission {codename} on {model.__name__}'s content type",
                    [p.content_type.app_label for p in holders] == [model._meta.app_label],
                    [f"{p.content_type.app_label}.{p.codename}" for p in holders],
                )

    with report.step("armed timers"):
        for timer in old["timers"]:
            task = Task.objects.filter(pk=timer["pk"]).first()
            kind = old["snapshot"]["processes"][str(timer["process"])]["kind"]
            node = getattr(flow_of[kind], timer["node"], None)
            name = f"timer {timer['pk']} ({timer['node']})"
            report.check(
                f"{name} armed", task is not None and task.status == STATUS.SCHEDULED, task and task.status
            )
            report.check(
                f"{name} due time kept",
                task is not None and task.scheduled == parse_datetime(timer["due"]),
                "",
            )
            report.check(f"{name} node", node is not None and task is not None and task.flow_task == node, "")

    with report.step("queued job"):
        job = old["job"]
        task = Task.objects.get(pk=job["task"])
        report.check("job still scheduled", task.status == STATUS.SCHEDULED, task.status)
        report.check("job keeps its message id", task.external_task_id == job["external_task_id"], "")
        waiting = [m for m in broker_messages(old["broker_url"]) if m["id"] == job["external_task_id"]]
        report.facts["job_message"] = waiting
        report.check(
            "the old message waits in the broker", [m["args"] for m in waiting] == [[job["ref"]]], waiting
        )
        flow_ref = job["ref"].rsplit("/", 2)[0]
        resolved = None
        with contextlib.suppress(Exception):
            resolved = import_flow_by_ref(flow_ref)
        report.check(
            "the new worker resolves the old message's flow",
            resolved is flow_of["purchase"],
            f"{flow_ref!r} -> {resolved!r}",
        )

    with report.step("email links"):
        tokens = ActionToken.objects.filter(task_id=ids["emailed_approve"])
        report.check("both link tokens kept, unused", tokens.filter(used_at__isnull=True).count() == 2, "")

    with report.step("counts"):
        report.check(
            "audit trail kept",
            AuditEvent.objects.count() == old["snapshot"]["audit_events"],
            AuditEvent.objects.count(),
        )
        report.check(
            "notifications kept",
            Notification.objects.count() == old["snapshot"]["notifications"],
            Notification.objects.count(),
        )


# ---------------------------------------------------------------- phase 2: act (worker running)


def phase_act(old: dict, report: Report) -> None:
    from django.core.exceptions import PermissionDenied
    from django.test import Client
    from django.utils import timezone
    from django.utils.dateparse import parse_datetime
    from viewflow.workflow.models import Task
    from viewflow.workflow.status import PROCESS, STATUS

    from processes import scheduler
    from processes.messages.services import message_receive
    from processes.models import AuditEvent
    from processes.orders.services import order_fraud_task_decide
    from processes.policies.models import candidate_group_ids
    from processes.purchase.models import PurchaseOrder
    from processes.purchase.services import purchase_task_decide, purchase_task_revise
    from processes.services import task_claim
    from processes.tasklist import selectors

    flow_of, model_of = flows(), models()
    people = users(old)
    ids, pks = old["tasks"], {name: entry["pk"] for name, entry in old["processes"].items()}

    def process(name: str):
        return model_of[old["processes"][name]["kind"]].objects.get(pk=pks[name])

    def done(name: str) -> bool:
        return process(name).status == PROCESS.DONE

    def open_task(name: str, node_name: str):
        kind = old["processes"][name]["kind"]
        return (
            Task.objects.filter(
                process_id=pks[name],
                flow_task=getattr(flow_of[kind], node_name),
                status__in=[STATUS.NEW, STATUS.ASSIGNED],
            )
            .order_by("-pk")
            .first()
        )

    with report.step("queued job runs"):
        wait_for(lambda: done("queued_job"), WORKER_TIMEOUT, "the worker to run the queued job")
        job = Task.objects.get(pk=old["job"]["task"])
        report.check("queued job done", job.status == STATUS.DONE, job.status)
        attempts = (job.data or {}).get("attempts") or []
        report.check(
            "queued job ran once, from its old message",
            len(attempts) == 1 and "resent" not in job.data,
            job.data,
        )
        report.check(
            "queued job made its purchase order",
            PurchaseOrder.objects.filter(process_id=pks["queued_job"]).count() == 1,
            "",
        )

    with report.step("emailed links"):
        maria = people["maria"]
        portal = Client()
        portal.force_login(maria)
        opened = portal.get(old["links"]["open"].removeprefix("http://testserver"), follow=True)
        report.check("the email's portal link opens", opened.status_code == 200, opened.status_code)
        path = old["links"]["approve"].removeprefix("http://testserver")
        anonymous = Client()
        page = anonymous.get(path)
        report.check("the emailed approve link shows its page", page.status_code == 200, page.status_code)
        report.check(
            "the page was audited",
            AuditEvent.objects.filter(task_id=ids["emailed_approve"], action="actionlink.opened").exists(),
            "",
        )
        answer = anonymous.post(path, {"comment": "Approved from the email, after the upgrade."})
        report.check("the emailed approve link acts", answer.status_code == 200, answer.status_code)
        task = Task.objects.get(pk=ids["emailed_approve"])
        report.check(
            "the emailed task is decided by maria",
            (task.status, task.owner_id) == (STATUS.DONE, maria.pk),
            (task.status, task.owner_id),
        )
        report.check(
            "the link's use is audited",
            AuditEvent.objects.filter(task_id=task.pk, action="actionlink.used").count() == 1,
            "",
        )
        # The other link of the same email now explains that the task was decided (not a 500).
        refused = anonymous.get(old["links"]["reject"].removeprefix("http://testserver"))
        report.check(
            "the emailed reject link is refused: decided", refused.status_code == 409, refused.status_code
        )

    with report.step("notification links"):
        alice = Client()
        alice.force_login(people["alice"])
        for notification_id in old["notifications"]["alice"]:
            response = alice.get(f"/notifications/{notification_id}/open/", follow=True)
            report.check(
                f"alice's notification {notification_id} opens",
                response.status_code == 200,
                response.status_code,
            )

    with report.step("revise"):
        revise = Task.objects.get(pk=ids["rejected_revise"])
        purchase_task_revise(
            task=revise,
            user=people["alice"],
            withdraw=False,
            comment="A cheaper one.",
            data={"amount": Decimal("299.00")},
        )
        revise.refresh_from_db()
        report.check("the revise task is done", revise.status == STATUS.DONE, revise.status)
        again = open_task("rejected", "approve")
        report.check("the revised request is back in the approvers' queue", again is not None, "")
        if again is not None:
            report.check(
                "olivia's queue shows it",
                selectors.task_rows_queue(people["olivia"]).filter(task_id=again.pk).exists(),
                "",
            )

    with report.step("claim and decide"):
        queued = Task.objects.get(pk=ids["queue_approve"])
        try:
            task_claim(task=queued, user=people["frank"])
        except PermissionDenied:
            report.check("frank (finance) may not claim a team approval", True)
        else:
            report.check("frank (finance) may not claim a team approval", False, "he claimed it")
        task_claim(task=queued, user=people["olivia"])
        report.check(
            "olivia claimed the queued approval",
            selectors.task_rows_inbox(people["olivia"]).filter(task_id=queued.pk).exists(),
            "",
        )
        purchase_task_decide(task=Task.objects.get(pk=queued.pk), user=people["olivia"], approved=True)
        purchase_task_decide(
            task=Task.objects.get(pk=ids["held_approve"]), user=people["olivia"], approved=True
        )

    with report.step("armed timers fire"):
        timers = old["timers"]
        latest = max(parse_datetime(timer["due"]) for timer in timers)

        def all_fired() -> bool:
            scheduler.timers_fire_due()  # what beat sends every second; the worker fires them
            return not Task.objects.filter(pk__in=[t["pk"] for t in timers], status=STATUS.SCHEDULED).exists()

        wait_for(
            all_fired,
            max(0.0, (latest - timezone.now()).total_seconds()) + WORKER_TIMEOUT,
            "the sweep and the worker to fire the armed timers",
            interval=0.5,
        )
        for timer in timers:
            task = Task.objects.get(pk=timer["pk"])
            report.check(f"timer {timer['node']} fired", task.status == STATUS.DONE, task.status)
        events = {
            name: list(
                AuditEvent.objects.filter(
                    process_id=pks[name], action__in=["task.reminded", "task.escalated"]
                )
                .order_by("pk")
                .values_list("action", "details", "created_at")
            )
            for name in ("armed", "order")
        }
        report.facts["timer_events"] = {
            name: [(action, details.get("level"), at) for action, details, at in rows]
            for name, rows in events.items()
        }
        report.check(
            "the armed request was reminded, then escalated twice",
            [(action, details.get("level"), details.get("action")) for action, details, _ in events["armed"]]
            == [
                ("task.reminded", None, None),
                ("task.escalated", 1, "notify"),
                ("task.escalated", 2, "add_candidates"),
            ],
            events["armed"],
        )
        report.check(
            "the fraud review was reminded",
            [action for action, _, _ in events["order"]] == ["task.reminded"],
            events["order"],
        )
        due = {timer["node"]: parse_datetime(timer["due"]) for timer in timers}
        fired_at = [at for _, _, at in events["armed"]]
        report.check(
            "no timer fired before its time",
            len(fired_at) == 3
            and all(
                at >= due[node]
                for at, node in zip(
                    fired_at, ["approve__timeout", "approve__timeout_2", "approve__timeout_3"], strict=True
                )
            )
            and all(at >= due["review_fraud__timeout"] for _, _, at in events["order"]),
            (fired_at, due),
        )
        armed = Task.objects.get(pk=ids["armed_approve"])
        managers = people["maria"].groups.get(name="managers")
        report.check(
            "level 2 added the managers as candidates",
            managers.pk in candidate_group_ids(armed.owner_permission or ""),
            armed.owner_permission,
        )
        report.check(
            "maria's queue shows the escalated task",
            selectors.task_rows_queue(people["maria"]).filter(task_id=armed.pk).exists(),
            "",
        )

    with report.step("fraud review"):
        review = Task.objects.get(pk=ids["order_review"])
        task_claim(task=review, user=people["fiona"])
        order_fraud_task_decide(task=Task.objects.get(pk=review.pk), user=people["fiona"], cleared=True)
        review.refresh_from_db()
        report.check("fiona cleared the order", review.status == STATUS.DONE, review.status)

    def order_waits() -> bool:
        return Task.objects.filter(
            process_id=pks["order"], flow_task=flow_of["order"].await_delivery, status=STATUS.SCHEDULED
        ).exists()

    with report.step("processes continue"):
        finishing = ["emailed", "queue", "held", "order"]
        # The old order goes on through the steps the new code added: it books its shipment and
        # waits for the carrier's callback, which comes here in-process (no web server runs).
        with contextlib.suppress(AssertionError):
            wait_for(order_waits, WORKER_TIMEOUT, "the order to wait for its delivery")
        report.check("the order waits for its delivery", order_waits(), process("order").status)
        if order_waits():
            message_receive(
                client=None,
                message_id="upgrade-delivered",
                name="shipment.delivered",
                correlation_key=process("order").order_ref,
                payload={},
            )
        with contextlib.suppress(AssertionError):
            wait_for(lambda: all(done(name) for name in finishing), WORKER_TIMEOUT, "the worker")
        for name in finishing:
            report.check(f"{name} process finished", done(name), process(name).status)
        for name in ("emailed", "queue", "held"):
            report.check(
                f"{name} process has its purchase order",
                PurchaseOrder.objects.filter(process_id=pks[name]).count() == 1,
                "",
            )
        report.check("the order completed", process("order").outcome == "completed", process("order").outcome)
        for name in ("armed", "rejected"):
            report.check(
                f"{name} process still running", process(name).status == PROCESS.NEW, process(name).status
            )
        failed_jobs = Task.objects.filter(
            process_id__in=pks.values(), flow_task_type="JOB", status=STATUS.ERROR
        )
        report.check(
            "no job failed", not failed_jobs.exists(), list(failed_jobs.values_list("pk", "flow_task"))
        )


def main() -> None:
    phase, old_path = sys.argv[1], Path(sys.argv[2])
    django_setup()
    old = json.loads(old_path.read_text())
    report = Report(phase)
    {"state": phase_state, "act": phase_act}[phase](old, report)
    report.finish()


if __name__ == "__main__":
    main()
