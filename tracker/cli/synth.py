"""`tracker synth`: write a seeded synthetic cohort file (for benchmarks, demos and tests)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tracker.cli.app import app
from tracker.cli.common import note, parse_date


@app.command("synth")
def synth(
    out: Annotated[Path, typer.Option("--out", "-o", help="The cohort JSON file to write.")],
    patients: Annotated[int, typer.Option("--patients", "-n", min=1, help="How many patients.")] = 100,
    seed: Annotated[int, typer.Option("--seed", help="Same seed, same cohort.")] = 1,
    years: Annotated[float, typer.Option("--years", min=1, max=30, help="Years of follow-up per patient.")] = 10,
    today: Annotated[str, typer.Option("--as-of", help="Every date falls on or before this day (YYYY-MM-DD).")
                     ] = "2026-11-22",
) -> None:
    """Write a seeded synthetic cohort (schemas/patient.schema.json, "synthetic": true): about 80 %
    small non-functioning pNETs (mostly stable, a growing minority) and 20 % metastatic ones under
    watch-and-wait, with visits, labs and scans following their protocol with realistic lateness.
    Made-up data only; import it with `tracker import`.

    Example: tracker synth --patients 1000 --seed 7 --years 10 --out cohort.json
    """
    from tracker.synthetic import write_cohort

    n = write_cohort(out, patients, seed=seed, years=years, as_of=parse_date(today, "--as-of"))
    note(f"Wrote {patients} synthetic patient(s), {n} records (lesion measurements counted), to {out}.")
