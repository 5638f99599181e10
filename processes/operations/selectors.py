"""Read side of the operations dashboard: what needs a process manager's attention, per process type.

Every selector takes the process types to look at (`flows`: those the viewer manages,
processes.tasklist.selectors.flows_managed_by) and a `now`, and knows no process type: the types
come from the registry, and a type's compensation steps are found in its flow (viewflow's
CompensateThrow nodes). Each panel's list is cut at PANEL_LIMIT rows and each sample at
SAMPLE_LIMIT, and every query is served by an index (ADR 0020), so the page costs the same
whatever the history holds.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import (
    Count,
    DateTimeField,
    DurationField,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone
from viewflow.workflow.fields import get_flow_ref, get_task_ref
from viewflow.workflow.models import Process, Task
from viewflow.workflow.nodes import CompensateThrow
from viewflow.workflow.nodes.events import MessageCatch, SignalCatch
from viewflow.workflow.status import PROCESS, STATUS

from processes.registry import registry
from processes.tasklist.models import OPEN_STATUSES, TaskRow

Flows = Sequence[Any]  # viewflow Flow classes (the type stubs know no `instance` or titles)
PANEL_LIMIT = 20  # rows a panel lists; its count says how many there are
COUNT_CAP = 1000  # counts stop here ("1000+"), so a flood costs no more than this
SAMPLE_LIMIT = 5000  # decisions per process type the time-to-decision figures are taken from
THROUGHPUT_DAYS = 14
DECISION_DAYS = 14

# Open task nodes a process may legitimately wait on for a long time: a person (HUMAN), a timer
# (viewflow's TIMER, which .OnTimeout boundaries are too), a message (our WAIT node) or a
# condition (viewflow's CONDITION); and viewflow's message and signal catches (WAITING_NODES),
# whose type EVENT they share with nodes that never wait (an error boundary stays open beside
# its job: a job lost with one is still stuck).
WAITING_NODE_TYPES = ("HUMAN", "TIMER", "WAIT", "CONDITION")
WAITING_NODES = (MessageCatch, SignalCatch)
OPEN_TASK_STATUSES = (STATUS.NEW, STATUS.ASSIGNED, STATUS.STARTED, STATUS.SCHEDULED)


def _now(now: datetime | None) -> datetime:
    return now or timezone.now()


def _refs(flows: Flows) -> list[str]:
    return [get_flow_ref(flow) for flow in flows]


def _nodes_of(flows: Flows, kinds: tuple[type, ...]) -> list[str]:
    """The task refs of the nodes of `flows` that are instances of `kinds`."""
    return [get_task_ref(node) for flow in flows for node in flow.instance.nodes() if isinstance(node, kinds)]


def _capped(queryset: QuerySet) -> int:
    return queryset[: COUNT_CAP + 1].count()


# ---------------------------------------------------------------- stuck instances


def stuck_processes(flows: Flows, *, now: datetime | None = None) -> QuerySet[Process]:
    """Running processes of `flows` that are stuck, oldest first.

    Stuck: the process is running (status NEW) and started more than STUCK_AFTER_MINUTES ago; none
    of its tasks was created or finished in that time (no transition); none of its open tasks
    waits on a person, a timer, a message or a condition (WAITING_NODE_TYPES); and none of its
    tasks is in ERROR (that is an incident, listed on its own). What is left is a process whose
    automated step never ran or never ended (a lost job, a dead worker), or one with no open task
    at all (a gateway that never fired, a join that waits for a branch that ended).
    """
    cutoff = _now(now) - timedelta(minutes=settings.STUCK_AFTER_MINUTES)
    tasks = Task.objects.filter(process_id=OuterRef("pk"))
    stuck = (
        Process.objects.filter(status=PROCESS.NEW, flow_class__in=_refs(flows), created__lt=cutoff)
        .exclude(Exists(tasks.filter(Q(created__gte=cutoff) | Q(finished__gte=cutoff))))
        # waiting on a person, timer, message or condition: exactly the predicate of the partial
        # index ops_task_waiting (migration 0028), so the running processes and their open
        # waiting steps are merged in id order from two small indexes, whatever the history
        .exclude(Exists(tasks.filter(status__in=OPEN_TASK_STATUSES, flow_task_type__in=WAITING_NODE_TYPES)))
        .exclude(Exists(tasks.filter(status=STATUS.ERROR)))
    )
    catches = _nodes_of(flows, WAITING_NODES)
    if catches:  # viewflow's message and signal catches (type EVENT), few: probed per candidate
        stuck = stuck.exclude(Exists(tasks.filter(status__in=OPEN_TASK_STATUSES, flow_task__in=catches)))
    return stuck.order_by("created", "pk")


def stuck_process_counts(*, now: datetime | None = None) -> dict[str, int]:
    """How many processes are stuck (stuck_processes), per process type: {flow ref: n}, every
    registered type listed (0 when none is). For the `portal_processes_stuck` gauge."""
    counts = {get_flow_ref(flow): 0 for flow in registry.flows()}
    rows = (
        stuck_processes(registry.flows(), now=now)
        .order_by()
        .values("flow_class")
        .annotate(n=Count("pk", distinct=True))
    )
    for row in rows:
        counts[get_flow_ref(row["flow_class"])] = row["n"]
    return counts


def stuck_panel(flows: Flows, *, now: datetime | None = None) -> tuple[list[Process], int]:
    """The oldest stuck processes (at most PANEL_LIMIT), each with `idle_since` (its last
    transition) and `open_tasks` (its open steps, newest first), and how many there are (capped)."""
    stuck = stuck_processes(flows, now=now)
    last = (
        Task.objects.filter(process_id=OuterRef("pk"))
        .annotate(moment=Coalesce("finished", "created"))
        .order_by("-moment")
        .values("moment")[:1]
    )
    rows = list(
        stuck.annotate(idle_since=Coalesce(Subquery(last), F("created"))).prefetch_related(
            Prefetch(
                "task_set",
                queryset=Task.objects.filter(status__in=OPEN_TASK_STATUSES).order_by("-created"),
                to_attr="open_tasks",
            )
        )[:PANEL_LIMIT]
    )
    count = len(rows) if len(rows) < PANEL_LIMIT else _capped(stuck.values("pk"))
    return rows, count


# ---------------------------------------------------------------- SLA risk and breaches


def _open_rows(flows: Flows) -> QuerySet[TaskRow]:
    return TaskRow.objects.filter(flow_class__in=_refs(flows), status__in=OPEN_STATUSES).select_related(
        "owner"
    )


def tasks_breached(flows: Flows, *, now: datetime | None = None) -> QuerySet[TaskRow]:
    """Open tasks past their due time, most overdue first."""
    return _open_rows(flows).filter(due_at__lt=_now(now)).order_by("due_at", "task_id")


def tasks_at_risk(flows: Flows, *, now: datetime | None = None) -> QuerySet[TaskRow]:
    """Open tasks not yet due that are in the last SLA_AT_RISK_PERCENT of their SLA (created to
    due), and at most SLA_AT_RISK_HOURS from due: soonest due first."""
    now = _now(now)
    sla = ExpressionWrapper(F("due_at") - F("created"), output_field=DurationField())
    left = ExpressionWrapper(
        F("due_at") - Value(now, output_field=DateTimeField()), output_field=DurationField()
    )
    return (
        _open_rows(flows)
        .filter(due_at__gte=now, due_at__lte=now + timedelta(hours=settings.SLA_AT_RISK_HOURS))
        # left <= sla * percent / 100, as left * 100 <= sla * percent: whole numbers only, since
        # a duration times a fraction rounds differently on each database
        .alias(
            left=ExpressionWrapper(left * 100, output_field=DurationField()),
            sla=ExpressionWrapper(sla * settings.SLA_AT_RISK_PERCENT, output_field=DurationField()),
        )
        .filter(left__lte=F("sla"))
        .order_by("due_at", "task_id")
    )


def task_panel(rows: QuerySet[Any]) -> tuple[list[Any], int]:
    listed = list(rows[:PANEL_LIMIT])
    return listed, len(listed) if len(listed) < PANEL_LIMIT else _capped(rows)


# ---------------------------------------------------------------- failing jobs


def incidents(flows: Flows) -> QuerySet[Task]:
    """Failed automated steps (JOB tasks in ERROR) of `flows`, newest first."""
    return (
        Task.objects.filter(flow_task_type="JOB", status=STATUS.ERROR, process__flow_class__in=_refs(flows))
        .select_related("process")
        .order_by("-finished", "-pk")
    )


# ---------------------------------------------------------------- per process type


@dataclass
class TypeFigures:
    """A process type's figures: compensation rate, throughput per day, time to decision."""

    flow: Any
    title: str
    compensates: bool = False
    finished_24h: int = 0
    compensated_24h: int = 0
    finished_7d: int = 0
    compensated_7d: int = 0
    per_day: list[tuple[date, int]] = field(default_factory=list)
    decisions: int = 0
    decision_median: timedelta | None = None
    decision_p90: timedelta | None = None
    decision_per_day: list[tuple[date, timedelta | None]] = field(default_factory=list)

    @staticmethod
    def _rate(part: int, whole: int) -> float | None:
        return part / whole if whole else None

    @property
    def rate_24h(self) -> float | None:
        return self._rate(self.compensated_24h, self.finished_24h)

    @property
    def rate_7d(self) -> float | None:
        return self._rate(self.compensated_7d, self.finished_7d)


def compensation_steps(flow: Any) -> list[str]:
    """The task refs of `flow`'s compensation throws (viewflow CompensateThrow nodes)."""
    return _nodes_of([flow], (CompensateThrow,))


def _days(now: datetime, count: int) -> list[date]:
    today = timezone.localdate(now)
    return [today - timedelta(days=count - 1 - n) for n in range(count)]


def percentile(values: list[timedelta], fraction: float) -> timedelta | None:
    """The nearest-rank percentile of `values` (None for none)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, math.ceil(len(ordered) * fraction)) - 1]


def type_figures(flows: Flows, *, now: datetime | None = None) -> list[TypeFigures]:
    """Each of `flows`' figures, in registry order: four grouped queries for all types together,
    plus one bounded sample of decisions per type."""
    now = _now(now)
    refs = {get_flow_ref(flow): flow for flow in flows}
    figures = {
        ref: TypeFigures(flow=flow, title=str(flow.process_title), compensates=bool(compensation_steps(flow)))
        for ref, flow in refs.items()
    }
    finished = Process.objects.filter(flow_class__in=list(refs), status=PROCESS.DONE)
    # compensation: finished processes in the last 7 days, and those among them that compensated
    steps = [step for flow in flows for step in compensation_steps(flow)]
    compensated = Exists(
        Task.objects.filter(process_id=OuterRef("pk"), flow_task__in=steps, status=STATUS.DONE)
    )
    day_ago = now - timedelta(hours=24)
    rows = (
        finished.filter(finished__gte=now - timedelta(days=7))
        .order_by()
        .values("flow_class")
        .annotate(
            finished_7d=Count("pk"),
            compensated_7d=Count("pk", filter=compensated),
            finished_24h=Count("pk", filter=Q(finished__gte=day_ago)),
            compensated_24h=Count("pk", filter=Q(finished__gte=day_ago) & compensated),
        )
    )
    for row in rows:
        figure = figures[get_flow_ref(row.pop("flow_class"))]
        for name, value in row.items():
            setattr(figure, name, value)
    # throughput: processes finished per day
    days = _days(now, THROUGHPUT_DAYS)
    per_day: dict[str, dict[date, int]] = defaultdict(dict)
    rows = (
        finished.filter(finished__gte=timezone.make_aware(datetime.combine(days[0], datetime.min.time())))
        .annotate(day=TruncDate("finished"))
        .order_by()
        .values("flow_class", "day")
        .annotate(n=Count("pk"))
    )
    for row in rows:
        per_day[get_flow_ref(row["flow_class"])][row["day"]] = row["n"]
    for ref, figure in figures.items():
        figure.per_day = [(day, per_day[ref].get(day, 0)) for day in days]
    # time to decision: human tasks, created to done, in the last DECISION_DAYS
    decision_days = _days(now, DECISION_DAYS)
    since = timezone.make_aware(datetime.combine(decision_days[0], datetime.min.time()))
    for ref, figure in figures.items():
        sample = [
            (created, done)
            for created, done in TaskRow.objects.filter(
                flow_class=ref, status=STATUS.DONE, finished__gte=since
            )
            .order_by("-finished")
            .values_list("created", "finished")[:SAMPLE_LIMIT]
            if done is not None  # always set here (the filter): for the type checker
        ]
        durations = [done - created for created, done in sample]
        figure.decisions = len(durations)
        figure.decision_median = percentile(durations, 0.5)
        figure.decision_p90 = percentile(durations, 0.9)
        by_day: dict[date, list[timedelta]] = defaultdict(list)
        for created, done in sample:
            by_day[timezone.localdate(done)].append(done - created)
        figure.decision_per_day = [(day, percentile(by_day.get(day, []), 0.5)) for day in decision_days]
    return [figures[ref] for ref in refs]


def dashboard(flows: Flows, *, now: datetime | None = None) -> dict[str, Any]:
    """Everything the dashboard shows of `flows`, at `now`."""
    now = _now(now)
    stuck, stuck_count = stuck_panel(flows, now=now)
    at_risk, at_risk_count = task_panel(tasks_at_risk(flows, now=now))
    breached, breached_count = task_panel(tasks_breached(flows, now=now))
    failed, failed_count = task_panel(incidents(flows))
    return {
        "now": now,
        "stuck": stuck,
        "stuck_count": stuck_count,
        "at_risk": at_risk,
        "at_risk_count": at_risk_count,
        "breached": breached,
        "breached_count": breached_count,
        "incidents": failed,
        "incidents_count": failed_count,
        "types": type_figures(flows, now=now),
    }
