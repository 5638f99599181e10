from processes.nodes.celery_job import CeleryJob, JobCall
from processes.nodes.deadline import DeadlineView, deadline_host_task

__all__ = ["CeleryJob", "DeadlineView", "JobCall", "deadline_host_task"]
