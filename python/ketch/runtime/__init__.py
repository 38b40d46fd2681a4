"""Containers: their life cycle (containers), and what their process is started with (spec)."""
