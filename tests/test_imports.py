"""The earlier system's services only started from their own directory (`from chat.handler`
style imports). Ours import and build their apps from anywhere."""

import os
import subprocess
import sys

import pytest


@pytest.mark.parametrize("service", ["gateway", "core", "ai"])
def test_service_app_builds_from_an_unrelated_directory(service: str, tmp_path: object) -> None:
    code = (
        f"from pyairtable_platform.{service}.app import create_app\n"
        "app = create_app()\n"
        "paths = {getattr(r, 'path', None) for r in app.routes}\n"
        "print(sorted(paths & {'/health', '/ready', '/metrics'}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=str(tmp_path),
        env={**os.environ, "PYTHONPATH": ""},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['/health', '/metrics', '/ready']"


def test_cli_answers_help_from_an_unrelated_directory(tmp_path: object) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pyairtable_platform.cli", "--help"],
        cwd=str(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    for command in ("serve", "migrate", "seed", "up", "down", "db-url"):
        assert command in result.stdout
