"""build routes (to be filled)."""

ROUTES: list = []
