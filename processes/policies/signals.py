"""What an app that manages policies (managed_by) adds to the core's version life cycle.

An admin-defined process type keeps its request form beside its chain's version; the core's
validation, publishing and copying know no form, so they ask through these signals:

- `version_form_fields(sender=PolicyVersion, version=...)`: a receiver that owns the version
  returns its form's fields as a mapping of name -> conditions.FieldSpec (None otherwise). Stage
  conditions are checked against them; without a form, a stage may have no condition.
- `version_checking(sender=PolicyVersion, version=...)`: a receiver returns a list of problems
  (words for the admin) that stop the version from being published.
- `version_copied(sender=PolicyVersion, source=..., draft=...)`: a receiver copies what it keeps
  of `source` to the new `draft`, in the copy's transaction.
- `version_published(sender=PolicyVersion, version=...)`: sent in the publishing transaction, once
  the version is the policy's active one (a receiver grants what its groups now need).
"""

from __future__ import annotations

from django.dispatch import Signal

version_form_fields = Signal()
version_checking = Signal()
version_copied = Signal()
version_published = Signal()
