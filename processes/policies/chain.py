"""A process whose approval chain is the stages of the policy version it pinned: the stage in
progress, moving on to the next one, and whether a decision is the chain's last word.

A plug-in's process model mixes in `StagedProcess` and says which stages it goes through
(`chain()`: the pinned version's stages whose amount bounds or condition hold for it, in
order); its flow's routing steps (`processes.nodes.Route`) call `chain_stage_next` (`route`, after
the start and a revision) and `chain_stage_after_decision` (`check_approved`, after a decision).
"""

from __future__ import annotations

from typing import Any

from processes.audit import audit_record


class StagedProcess:
    """Mixin of a process model with a `stage_order` field (the order of the stage in progress,
    None before the first and after the last), an `approved` field (the decision on it: None
    until made) and a `chain()` method."""

    stage_order: int | None
    approved: bool | None

    def chain(self) -> list[Any]:
        raise NotImplementedError

    @property
    def current_stage(self) -> Any:
        """The stage in progress, or None before the first and after the last."""
        if self.stage_order is None:
            return None
        return next((stage for stage in self.chain() if stage.order == self.stage_order), None)

    @property
    def has_stage(self) -> bool:
        return self.stage_order is not None

    @property
    def rejected(self) -> bool:
        """The decision on the stage in progress was a rejection (`approved` False; None while
        undecided)."""
        return self.approved is False


def chain_stage_next(*, process: Any, action: str) -> Any:
    """Move `process` to the next stage of its chain, or past the last one (stage None), and
    record `action` (`<app>.stage_entered`) for a stage entered. The flow's `route` step calls it
    after the start (and a revision), `chain_stage_after_decision` after each approval; a revision
    that resets `stage_order` restarts the chain from its first stage."""
    following = [
        stage for stage in process.chain() if process.stage_order is None or stage.order > process.stage_order
    ]
    stage = following[0] if following else None
    process.stage_order = stage.order if stage is not None else None
    process.approved = None if stage is not None else process.approved
    process.save(update_fields=["stage_order", "approved"])
    if stage is not None:
        audit_record(
            action=action,
            process=process,
            details={"stage": stage.order, "name": stage.name, "group": stage.group_name},
        )
    return process


def chain_stage_after_decision(*, process: Any, action: str) -> Any:
    """After a decision on the stage in progress: a rejection leaves the chain where it is (the
    request goes back to its requester, and a revision restarts the chain); an approval moves it to
    the next stage, or past the last one (`chain_stage_next`)."""
    if process.rejected:
        return process
    return chain_stage_next(process=process, action=action)


def chain_decision_is_final(*, process: Any, approved: bool) -> bool:
    """Is a decision on the stage in progress the chain's last word (a rejection, or the last
    stage's approval)? The requester hears of those."""
    stage = process.current_stage
    if not approved or stage is None:
        return True
    return not any(later.order > stage.order for later in process.chain())
