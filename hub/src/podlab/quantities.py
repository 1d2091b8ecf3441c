"""Kubernetes quantities and human durations, parsed once so every consumer compares numbers.

Profiles say `memory: {limit: 8Gi}` and `idle_timeout: 30m`; quotas, culling and the local
spawner need bytes and seconds. Parsing here (not ad hoc in each consumer) keeps one meaning.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18}
_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E|m)?$")
_DURATION_PART = re.compile(r"([0-9]+)([smhdw])")
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}

QUANTITY_HELP = "a Kubernetes quantity such as 512Mi, 8Gi or 1.5G"
CPU_HELP = "a positive number of cores such as 0.5, 2, or 500m"
DURATION_HELP = "a duration such as 90s, 30m, 8h, 7d or 1h30m"


def parse_bytes(value: str | int) -> int:
    """Bytes of a memory/storage quantity ("8Gi" -> 8589934592); ValueError explains the form."""
    if isinstance(value, bool):
        raise ValueError(f"expected {QUANTITY_HELP}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"expected {QUANTITY_HELP}, not a negative number")
        return value
    match = _QUANTITY.match(str(value).strip())
    if not match or match.group(2) == "m":
        raise ValueError(f"expected {QUANTITY_HELP}")
    number, suffix = Decimal(match.group(1)), match.group(2)
    factor = _BINARY.get(suffix or "", 0) or _DECIMAL.get(suffix or "", 1)
    return int(number * factor)


def parse_cpu(value: str | int | float) -> float:
    """Cores as a float ("500m" -> 0.5, 2 -> 2.0)."""
    if isinstance(value, bool):
        raise ValueError(f"expected {CPU_HELP}")
    text = str(value).strip()
    try:
        cores = Decimal(text[:-1]) / 1000 if text.endswith("m") else Decimal(text)
    except InvalidOperation:
        raise ValueError(f"expected {CPU_HELP}") from None
    if not cores.is_finite() or cores <= 0:
        raise ValueError(f"expected {CPU_HELP}")
    return float(cores)


def parse_duration(value: str | int) -> int:
    """Seconds of a duration ("30m" -> 1800, "1h30m" -> 5400); bare integers are seconds."""
    if isinstance(value, bool):
        raise ValueError(f"expected {DURATION_HELP}")
    if isinstance(value, int):
        if value <= 0:
            raise ValueError(f"expected {DURATION_HELP}, greater than zero")
        return value
    text = str(value).strip()
    if text.isdigit() and int(text) > 0:
        return int(text)
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"expected {DURATION_HELP}")
    seconds = sum(int(n) * _DURATION_UNITS[u] for n, u in parts)
    if seconds <= 0:
        raise ValueError(f"expected {DURATION_HELP}, greater than zero")
    return seconds
