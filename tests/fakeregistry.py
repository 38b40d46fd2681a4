"""Compatibility only: the old `from fakeregistry import ...` of branches written
before tests/support/. New code imports support.fakeregistry; delete this file once
nothing imports it."""

from support.fakeregistry import *  # noqa: F403
