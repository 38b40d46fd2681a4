"""volumes routes (to be filled)."""

ROUTES: list = []
