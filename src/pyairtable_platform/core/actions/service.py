"""The lifecycle of a write: submit (run now, or preview with an approval token), apply,
revert, list. Each step is one UPDATE of the ``actions`` row, so the audit trail (the generic
trigger, with the acting user and request id) holds every step.

The caller's unit of work commits; a write that failed upstream is recorded as ``failed``
(the outcome is returned, not raised) so the record survives — callers raise after commit.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from pyairtable_platform.core.actions import repository
from pyairtable_platform.core.actions.config import ActionsSettings
from pyairtable_platform.core.actions.diff import summarize
from pyairtable_platform.core.actions.exceptions import (
    ActionNotApplicable,
    ActionNotFound,
    InvalidApprovalToken,
    RevertRefused,
    WriteUncertain,
)
from pyairtable_platform.core.actions.executor import Outcome, Plan, execute, plan
from pyairtable_platform.core.actions.models import Action
from pyairtable_platform.core.actions.reconcile import reconcile
from pyairtable_platform.core.actions.revert import revert as run_revert
from pyairtable_platform.core.actions.schemas import DESTRUCTIVE, Channel, WriteRequest
from pyairtable_platform.core.actions.tasks import defer_reconcile
from pyairtable_platform.core.auth import permissions
from pyairtable_platform.core.auth.permissions import Action as Permission
from pyairtable_platform.kit.auth import Identity
from pyairtable_platform.kit.context import current_request_id
from pyairtable_platform.kit.errors import Forbidden, PlatformError

if TYPE_CHECKING:
    from pyairtable_platform.core.airtable.service import AirtableService

TOKEN_PREFIX = "apv_"  # noqa: S105 - the visible prefix of approval tokens, not a secret
# Workspace setting (workspaces.settings JSON) that makes every destructive write a preview.
WORKSPACE_REQUIRE_PREVIEW = "require_preview_for_destructive"


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class Submitted:
    """What a submitted write became: run (``done``...) or waiting for approval."""

    action: Action
    diff: list[dict[str, Any]] = field(default_factory=list)
    approval_token: str | None = None
    preview_required: bool = False
    exception: PlatformError | None = None

    @property
    def failed(self) -> bool:
        return self.action.status == "failed"

    @property
    def uncertain(self) -> bool:
        """Airtable never answered (a create): recorded, not resent, reconciled later;
        ``exception`` says so and names the action."""
        return self.action.status == "uncertain"


class ActionsService:
    """Safe writes of one identity in its workspace, through one channel."""

    def __init__(
        self,
        session: AsyncSession,
        identity: Identity,
        airtable: AirtableService,
        *,
        channel: Channel,
        settings: ActionsSettings | None = None,
        session_id: uuid.UUID | None = None,
        workflow_run_id: uuid.UUID | None = None,
    ) -> None:
        self.session = session
        self.identity = identity
        self.airtable = airtable
        self.channel = channel
        self.settings = settings or ActionsSettings()
        self.session_id = session_id
        self.workflow_run_id = workflow_run_id

    @property
    def workspace_id(self) -> uuid.UUID:
        if self.identity.workspace_id is None:
            raise Forbidden("no active workspace: create one or accept an invitation first")
        return self.identity.workspace_id

    def _check_write(self) -> None:
        _ = self.workspace_id
        permissions.check_identity(self.identity, Permission.DATA_WRITE)

    async def preview_required(self, operation: str) -> bool:
        """Whether this caller must preview ``operation`` (API key or workspace setting)."""
        if operation not in DESTRUCTIVE:
            return False
        if self.identity.api_key_id is not None and await repository.api_key_requires_preview(
            self.session, self.identity.api_key_id
        ):
            return True
        settings = await repository.workspace_settings(self.session, self.workspace_id)
        return bool(settings.get(WORKSPACE_REQUIRE_PREVIEW))

    async def submit(
        self, request: WriteRequest, *, preview: bool = False, strict: bool = True
    ) -> Submitted:
        """Validate and snapshot a write; preview it (returning an approval token) or run it.
        ``strict=False`` lets Airtable judge each record (partial writes, per-record errors)."""
        self._check_write()
        planned = await plan(self.airtable, request, self.settings.max_records, strict=strict)
        summary = summarize(
            request.operation,
            planned.table_name or planned.table_id,
            planned.diff,
            primary=planned.primary,
        )
        required = not preview and await self.preview_required(request.operation)
        common: dict[str, Any] = {
            "workspace_id": self.workspace_id,
            "user_id": self.identity.user_id,
            "channel": self.channel,
            "api_key_id": self.identity.api_key_id,
            "session_id": self.session_id,
            "workflow_run_id": self.workflow_run_id,
            "base_id": request.base_id,
            "table_id": planned.table_id,
            "table_name": planned.table_name,
            "operation": request.operation,
            "record_ids": planned.record_ids,
            "request": request.model_dump(mode="json", exclude_defaults=True),
            "before": planned.before,
            "summary": summary,
            "request_id": current_request_id(),
        }
        if preview or required:
            token = TOKEN_PREFIX + secrets.token_urlsafe(24)
            expires = datetime.now(UTC) + timedelta(seconds=self.settings.approval_ttl_seconds)
            action = await repository.insert(
                self.session,
                **common,
                status="previewed",
                approval_token_hash=_token_hash(token),
                expires_at=expires,
            )
            return Submitted(action, planned.diff, token, preview_required=required)
        action = await repository.insert(self.session, **common, status="running")
        outcome = await self._run(action, request, planned)
        return Submitted(action, planned.diff, exception=outcome.exception)

    async def _run(self, action: Action, request: WriteRequest, planned: Plan) -> Outcome:
        outcome = await execute(self.airtable, request, planned)
        await self._finish(action, outcome)
        if outcome.status == "uncertain":
            attempted = (outcome.result.get("uncertain") or {}).get("attempted", [])
            # Settled later by the job (or POST .../reconcile); the caller hears which action.
            await defer_reconcile(
                self.session, self.workspace_id, action.id, self.settings.reconcile_delay_seconds
            )
            outcome.exception = WriteUncertain(
                str(action.id),
                planned.table_name or planned.table_id,
                len(attempted),
                created_ids=list(outcome.record_ids),
            )
        return outcome

    async def reconcile(self, action_id: uuid.UUID) -> Action:
        """Settle an uncertain write now: sync the base's mirror, then look for the records
        it attempted (no-op for any other status)."""
        self._check_write()
        action = await self.get(action_id, lock=True)
        return await reconcile(self.session, self.airtable, action, self.settings)

    async def _finish(self, action: Action, outcome: Outcome, **extra: Any) -> None:
        values: dict[str, Any] = {
            "status": outcome.status,
            "after": outcome.after,
            "result": outcome.result,
            "error": outcome.error,
            "executed_at": datetime.now(UTC),
            **extra,
        }
        ids = list(dict.fromkeys([*action.record_ids, *outcome.record_ids]))
        if ids != list(action.record_ids):
            values["record_ids"] = ids
        if outcome.table_id:
            values["table_id"] = outcome.table_id
        await repository.save(self.session, action, **values)

    async def get(self, action_id: uuid.UUID, *, lock: bool = False) -> Action:
        _ = self.workspace_id
        permissions.check_identity(self.identity, Permission.DATA_READ)
        action = await repository.get(self.session, action_id, lock=lock)
        if action is None:
            raise ActionNotFound(
                f"no action {action_id} in this workspace; list_actions shows them"
            )
        return action

    async def audit(self, action_id: uuid.UUID) -> list[dict[str, Any]]:
        return await repository.audit_trail(self.session, action_id)

    async def list(self, **filters: Any) -> list[Action]:
        _ = self.workspace_id
        permissions.check_identity(self.identity, Permission.DATA_READ)
        return await repository.list_actions(self.session, **filters)

    async def apply(self, action_id: uuid.UUID, approval_token: str) -> Action:
        """Approve and run a previewed action; the token proves the approval was asked for."""
        self._check_write()
        action = await self.get(action_id, lock=True)
        if action.status != "previewed":
            raise ActionNotApplicable(
                f"action {action_id} is {action.status}, not waiting for approval"
                + ("; it ran already" if action.status in ("done", "partially_failed") else "")
            )
        if action.expires_at is not None and action.expires_at <= datetime.now(UTC):
            raise ActionNotApplicable(
                f"the approval of action {action_id} expired at {action.expires_at.isoformat()}; "
                "preview the change again"
            )
        if not action.approval_token_hash or not secrets.compare_digest(
            action.approval_token_hash, _token_hash(approval_token)
        ):
            raise InvalidApprovalToken("the approval token does not match this action")
        now = datetime.now(UTC)
        await repository.save(
            self.session,
            action,
            status="approved",
            approved_at=now,
            approved_by=self.identity.user_id,
            approval_token_hash=None,
        )
        await repository.save(self.session, action, status="running")
        request = WriteRequest.model_validate(action.request)
        await self.airtable.invalidate_cache(request.base_id)
        # Re-plan against the current data: the records may have changed since the preview, and
        # the revert must restore what was there when the write ran.
        planned = await plan(self.airtable, request, self.settings.max_records)
        await repository.save(self.session, action, before=planned.before)
        await self._run(action, request, planned)
        return action

    async def reject(self, action_id: uuid.UUID) -> Action:
        self._check_write()
        action = await self.get(action_id, lock=True)
        if action.status != "previewed":
            raise ActionNotApplicable(
                f"action {action_id} is {action.status}, not waiting for approval"
            )
        await repository.save(self.session, action, status="rejected", approval_token_hash=None)
        return action

    async def revert(self, action_id: uuid.UUID) -> tuple[Action, Action]:
        """Undo an executed action. Returns (the original, the revert action)."""
        self._check_write()
        original = await self.get(action_id, lock=True)
        if original.status == "reverted":
            raise RevertRefused(f"action {action_id} was reverted already")
        if original.status == "uncertain":
            raise RevertRefused(
                f"action {action_id} is uncertain (Airtable never confirmed it); it is "
                f"reconciled shortly — or now with POST /api/v1/actions/{action_id}/reconcile "
                "— and can be reverted then"
            )
        if original.status not in ("done", "partially_failed"):
            raise RevertRefused(
                f"action {action_id} is {original.status}; only executed actions can be reverted"
            )
        outcome = await run_revert(self.airtable, original)
        undo = await repository.insert(
            self.session,
            workspace_id=self.workspace_id,
            user_id=self.identity.user_id,
            channel=self.channel,
            api_key_id=self.identity.api_key_id,
            session_id=self.session_id,
            base_id=original.base_id,
            table_id=original.table_id,
            table_name=original.table_name,
            operation="revert",
            record_ids=list(original.record_ids),
            request={"revert_of": str(original.id)},
            before=original.after,
            status="running",
            revert_of=original.id,
            summary=f"Revert of: {(original.summary or original.operation).splitlines()[0]}",
            request_id=current_request_id(),
        )
        await self._finish(undo, outcome)
        if outcome.status == "done":
            await repository.save(
                self.session,
                original,
                status="reverted",
                reverted_at=datetime.now(UTC),
                reverted_by=self.identity.user_id,
                result={**(original.result or {}), "reverted_by_action": str(undo.id)},
            )
        return original, undo
