from django.core.exceptions import PermissionDenied


class TaskUnavailable(PermissionDenied):
    """The task changed hands or finished before this user's action reached it.

    A PermissionDenied, so code that guards on it keeps working; views show its message
    ("Task #12 is already claimed by olivia.") instead of a bare 403.
    """
