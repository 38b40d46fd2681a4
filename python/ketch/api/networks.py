"""networks routes (to be filled)."""

ROUTES: list = []
