"""Compatibility only: the old `from imagekit import ...` of branches written
before tests/support/. New code imports support.imagekit; delete this file once
nothing imports it."""

from support.imagekit import *  # noqa: F403
