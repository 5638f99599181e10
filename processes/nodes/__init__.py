from processes.nodes.celery_job import CeleryJob, JobCall
from processes.nodes.deadline import DeadlineView, deadline_host_task, deadline_path_host
from processes.nodes.end import End
from processes.nodes.gateways import Function, If, Route
from processes.nodes.start import Start, StartHandle

__all__ = [
    "CeleryJob",
    "DeadlineView",
    "End",
    "Function",
    "If",
    "JobCall",
    "Route",
    "Start",
    "StartHandle",
    "deadline_host_task",
    "deadline_path_host",
]
