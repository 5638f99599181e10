from processes.nodes.celery_job import CeleryJob, JobCall
from processes.nodes.deadline import DeadlineView, deadline_host_task, deadline_path_host

__all__ = ["CeleryJob", "DeadlineView", "JobCall", "deadline_host_task", "deadline_path_host"]
