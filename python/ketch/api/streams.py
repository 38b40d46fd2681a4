"""streams routes (to be filled)."""

ROUTES: list = []
