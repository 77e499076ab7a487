"""The benchmarks' one table: min and median wall and CPU seconds per row, interleaved runs already collected."""

from __future__ import annotations

import statistics


def print_table(rows: dict[str, list[tuple[float, float]]]) -> dict[str, tuple[float, float, float, float]]:
    """Print `name  wall min  wall med  cpu min  cpu med` per row of (wall, cpu) samples; return those four."""
    width = max(len(n) for n in rows) + 1
    print(f"{'':<{width}} {'wall min':>9} {'wall med':>9} {'cpu min':>8} {'cpu med':>8}")
    stats = {}
    for name, xs in rows.items():
        w, c = [x for x, _ in xs], [y for _, y in xs]
        stats[name] = (min(w), statistics.median(w), min(c), statistics.median(c))
        print(f"{name:<{width}} {stats[name][0]:9.3f} {stats[name][1]:9.3f} {stats[name][2]:8.3f} {stats[name][3]:8.3f}")
    return stats


def ratios(num: tuple[float, ...], den: tuple[float, ...]) -> str:
    """`wall min 0.12x, wall median ...` for two rows of print_table."""
    names = ("wall min", "wall median", "cpu min", "cpu median")
    return ", ".join(f"{n} {a / b:.2f}x" for n, a, b in zip(names, num, den, strict=True))
