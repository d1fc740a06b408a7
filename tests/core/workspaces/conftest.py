"""Reuses the accounts tests' core server fixtures."""

from tests.core.accounts.conftest import client, core

__all__ = ["client", "core"]
