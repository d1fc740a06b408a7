"""Every job the platform queues by name is one the worker knows: a job queued under a name
no task answers to would fail in the worker only, far from the change that queued it."""

from __future__ import annotations

import inspect

from pyairtable_platform.core.actions import tasks as actions_tasks
from pyairtable_platform.core.jobs import create_job_app
from pyairtable_platform.core.mirror import tasks as mirror_tasks


def test_the_worker_registers_every_task_queued_by_name_with_the_arguments_it_is_given() -> None:
    app = create_job_app("postgresql://nobody@127.0.0.1:1/none")
    queued = {
        mirror_tasks.SYNC_TASK: {"workspace_id", "base_id", "full"},
        actions_tasks.RECONCILE_TASK: {"workspace_id", "action_id"},
    }
    for name, arguments in queued.items():
        assert name in app.tasks, f"{name} is queued but no worker task has that name"
        parameters = inspect.signature(app.tasks[name].func).parameters
        assert arguments <= set(parameters), (name, sorted(parameters))
