#!/usr/bin/env python
"""Django's command-line utility for the Approvals Portal."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    from django.core.management import execute_from_command_line
    from django.db import OperationalError, connection

    from portal.config import ConfigError, exit_on_config_error, exit_on_unreachable_database
    from portal.health import DependencyDown, exit_on_dependency_down

    try:
        execute_from_command_line(sys.argv)
    except ConfigError as exc:
        exit_on_config_error(exc)
    except DependencyDown as exc:
        exit_on_dependency_down(exc)
    except OperationalError as exc:
        if connection.connection is not None:
            raise  # connected fine: a real error in the command, keep its traceback
        exit_on_unreachable_database(exc)


if __name__ == "__main__":
    main()
