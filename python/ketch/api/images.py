"""images routes (to be filled)."""

ROUTES: list = []
