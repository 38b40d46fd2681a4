"""Talking to registries: the client (distribution API v2), auth, pull."""
