"""``seqdiff infill`` (being written)."""


def add_infill_command(subparsers) -> None:
    return None
