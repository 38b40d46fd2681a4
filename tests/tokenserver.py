"""Compatibility only: the old `from tokenserver import ...` of branches written
before tests/support/. New code imports support.tokenserver; delete this file once
nothing imports it."""

from support.tokenserver import *  # noqa: F403
