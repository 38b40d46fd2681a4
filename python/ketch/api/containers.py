"""containers routes (to be filled)."""

ROUTES: list = []
