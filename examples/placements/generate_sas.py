#!/usr/bin/env python3
"""Generates ne.sas's sample placements for 2026 (ne.sas.csv) and the fictitious persons they
are about (ne.sas-persons.csv). Deterministic: the same files at every run.

Two measures ne.sas budgets places in (federation.toml): `atelier-bois` (6 places) and
`formation-base` (4 places). Each keeps about its places occupied all year: a stay lasts a few
months, and the place is taken again a week or two after it ends. So a month counts some
7 to 10 participants per measure (shown), while its entries and exits are a few (suppressed).

    python3 examples/placements/generate_sas.py
"""

import datetime as dt
import pathlib
import random

HERE = pathlib.Path(__file__).parent
YEAR_START, YEAR_END = dt.date(2026, 1, 1), dt.date(2026, 12, 31)
# (measure, places kept busy, shortest and longest stay in days)
MEASURES = [("atelier-bois", 7, 60, 170), ("formation-base", 5, 90, 220)]
OUTCOMES = ["employment"] * 7 + ["training"] * 4 + ["other-measure"] * 3 + ["dropout"] * 4 + ["other"] * 2
FIRST_NAMES = ["Alex", "Sam", "Noa", "Lou", "Charlie", "Camille", "Dominique", "Eden", "Gabi", "Maxime"]
# The four placements of persons of ../records/ne.sas.json, kept as they were.
KEPT = """756.9217.0769.85,atelier-bois,2026-03-02,2026-08-31,other-measure
756.1234.5678.97,formation-base,2026-05-04,,
756.4803.1520.74,formation-base,2026-09-07,2026-11-13,training
756.3055.7112.99,atelier-bois,2026-10-05,,"""


def avs(rng):
    """A fictitious social insurance number with a valid EAN-13 check digit."""
    digits = [7, 5, 6] + [rng.randrange(10) for _ in range(9)]
    s = sum(d * (1 if i % 2 == 0 else 3) for i, d in enumerate(digits))
    digits.append((10 - s % 10) % 10)
    t = "".join(map(str, digits))
    return f"{t[0:3]}.{t[3:7]}.{t[7:11]}.{t[11:13]}"


def main():
    rng = random.Random(2026)
    persons, placements, seen = [], [], set()
    for measure, busy, shortest, longest in MEASURES:
        for slot in range(busy):
            # The first stays began before the year, at different times.
            start = YEAR_START - dt.timedelta(days=rng.randrange(0, 90))
            while start <= YEAR_END:
                number = avs(rng)
                while number in seen:
                    number = avs(rng)
                seen.add(number)
                n = len(persons) + 1
                born = dt.date(1965, 1, 1) + dt.timedelta(days=rng.randrange(0, 14000))
                persons.append(f"{number},{rng.choice(FIRST_NAMES)} Exemple-S{n:02},{born}")
                end = start + dt.timedelta(days=rng.randrange(shortest, longest))
                if end > YEAR_END:
                    placements.append(f"{number},{measure},{start},,")
                    break
                placements.append(f"{number},{measure},{start},{end},{rng.choice(OUTCOMES)}")
                start = end + dt.timedelta(days=rng.randrange(5, 20))
    (HERE / "ne.sas-persons.csv").write_text("avs,name,birth_date\n" + "\n".join(persons) + "\n")
    (HERE / "ne.sas.csv").write_text(
        "avs,measure,start,end,outcome\n" + KEPT + "\n" + "\n".join(placements) + "\n"
    )
    print(f"{len(persons)} persons, {len(placements) + 4} placements")


if __name__ == "__main__":
    main()
