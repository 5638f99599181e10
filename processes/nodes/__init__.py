from processes.nodes.celery_job import CeleryJob, JobCall

__all__ = ["CeleryJob", "JobCall"]
