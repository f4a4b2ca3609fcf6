"""Production refuses a SECRET_KEY that is not its own, and its start-up log says what a generated
token key needs."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from portal.config import DEVELOPMENT_SECRET_KEY, ConfigError, from_environment
from tests.deploy_files import read_env_file

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def production_env(monkeypatch):
    monkeypatch.setenv("PORTAL_ENV", "production")
    monkeypatch.setenv("PORTAL_BASE_URL", "https://portal.example.com")
    return monkeypatch


@pytest.mark.parametrize(
    "key, problem",
    [
        (read_env_file()["SECRET_KEY"], "is the placeholder of deploy/portal.env.example"),
        (DEVELOPMENT_SECRET_KEY, "is the development default"),
        ("", "is not set"),
        ("a", "is too short (1 characters; at least 43 random ones)"),
        (
            "correct-horse-battery-staple-correct-horse-battery",
            "is not random enough (too few different characters, or a repeated pattern)",
        ),
        ("Ab1-" * 16, "is not random enough (too few different characters, or a repeated pattern)"),
    ],
)
def test_production_refuses_to_start_with_a_secret_key_that_is_not_its_own(production_env, key, problem):
    production_env.setenv("SECRET_KEY", key)
    with pytest.raises(ConfigError) as refused:
        from_environment()
    message = str(refused.value)
    assert message.startswith(f"SECRET_KEY {problem}; PORTAL_ENV=production needs a long random key")
    assert "secrets.token_urlsafe" in message


def test_production_starts_with_a_secret_key_of_its_own(production_env):
    production_env.setenv("SECRET_KEY", "kJ2m9Qw-rT4vXp8Ls0Zb6Nc3Hd1Yf5Ue7Ga9Wq2Ko4Mi6Sj8Pl0Rn")
    assert from_environment()["SECRET_KEY"] == "kJ2m9Qw-rT4vXp8Ls0Zb6Nc3Hd1Yf5Ue7Ga9Wq2Ko4Mi6Sj8Pl0Rn"


def test_production_start_without_token_key_says_every_host_needs_the_generated_key(tmp_path):
    key_file = tmp_path / "token.key"
    env = {
        "PATH": os.environ["PATH"],
        "PORTAL_ENV": "production",
        "SECRET_KEY": "kJ2m9Qw-rT4vXp8Ls0Zb6Nc3Hd1Yf5Ue7Ga9Wq2Ko4Mi6Sj8Pl0Rn",
        "PORTAL_BASE_URL": "https://portal.example.com",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'portal.db'}",
        "TOKEN_KEY_FILE": str(key_file),
    }
    started = subprocess.run(
        [sys.executable, "-c", "import wsgi"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert started.returncode == 0, started.stderr
    [warning] = [line for line in started.stderr.splitlines() if "TOKEN_ENCRYPTION_KEY is not set" in line]
    assert str(key_file) in warning
    assert "every host running the portal (web and runner) needs this same key" in warning
    assert "set TOKEN_ENCRYPTION_KEY" in warning
