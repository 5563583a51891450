"""Stand-ins for a pathological replay, imported by the replay process by name."""


def spin(payload: object) -> tuple[str, str]:
    """Burn CPU for ever (a replay that never finishes)."""
    while True:
        pass


def answer(payload: object) -> tuple[str, str]:
    """Report the payload back as a mismatch (the pipe works both ways)."""
    return "mismatch", f"got {payload!r}"
