import json
import os
import subprocess
import sys

import pytest
from pydantic import ValidationError

from pyairtable_platform.core.config import CoreSettings
from pyairtable_platform.gateway.config import GatewaySettings


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("pdf,docx,csv", ["pdf", "docx", "csv"]),
        (" pdf , docx ,, csv ", ["pdf", "docx", "csv"]),
        ('["pdf","docx"]', ["pdf", "docx"]),
        ("txt", ["txt"]),
    ],
)
def test_list_settings_parse_comma_separated_and_json(
    monkeypatch: pytest.MonkeyPatch, raw: str, expected: list[str]
) -> None:
    monkeypatch.setenv("ALLOWED_EXTENSIONS", raw)
    assert CoreSettings().allowed_extensions == expected


def test_broken_json_list_setting_is_refused_with_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALLOWED_EXTENSIONS", '["pdf",')
    with pytest.raises(ValidationError, match="not a valid JSON list"):
        CoreSettings()


def test_gateway_cors_origins_accept_both_spellings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORS_ORIGINS", json.dumps(["https://a.example", "https://b.example"]))
    assert GatewaySettings().cors_origins == ["https://a.example", "https://b.example"]
    monkeypatch.setenv("CORS_ORIGINS", "https://a.example,https://b.example")
    assert GatewaySettings().cors_origins == ["https://a.example", "https://b.example"]


def test_placeholder_secret_is_refused_in_production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("SECRET_KEY", "changethis")
    with pytest.raises(ValidationError, match="SECRET_KEY is missing or a placeholder"):
        CoreSettings()


def test_missing_secret_is_refused_in_production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("CORE_SECRET_KEY", raising=False)
    with pytest.raises(ValidationError, match="SECRET_KEY is missing or a placeholder"):
        CoreSettings()


def test_real_secret_is_accepted_in_production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("SECRET_KEY", "k" * 40)
    monkeypatch.setenv("JWT_PRIVATE_KEYS", "k1:" + "A" * 43)
    monkeypatch.setenv("SECRETS_ENCRYPTION_KEYS", "k1:" + "B" * 43 + "=")
    settings = CoreSettings()
    assert settings.is_production
    assert settings.secret_key.get_secret_value() == "k" * 40


def test_service_refuses_to_start_in_production_with_placeholder_secret(tmp_path: object) -> None:
    env = {**os.environ, "ENVIRONMENT": "production", "SECRET_KEY": "changethis"}
    result = subprocess.run(
        [sys.executable, "-m", "pyairtable_platform.cli", "serve", "core", "--port", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=str(tmp_path),
    )
    assert result.returncode == 1
    assert "core cannot start" in result.stderr
    assert "SECRET_KEY is missing or a placeholder" in result.stderr
    assert "Traceback" not in result.stderr


def test_database_url_must_be_postgresql(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "mysql://x@y/z")
    with pytest.raises(ValidationError, match="DATABASE_URL must be a postgresql"):
        CoreSettings()
