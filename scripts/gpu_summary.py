"""Summarise a scripts/gpu_check.sh folder: test counts, the benchmarks' rates, speed-ups and
the targets (fp32 at or above the ANN-forward ceiling and the step loop; issue 17's rates),
into OUT/summary.json (also printed).

    python scripts/gpu_summary.py OUT
"""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

# issue 17's targets, VGG15 T = 100 fp32 spike-exact on one GPU
TARGETS = {32: 60_000, 256: 150_000}
GENERATION_SECONDS = 60.0


def tests(path: Path) -> dict | None:
    if not path.is_file():
        return None
    suites = ET.parse(path).getroot()
    suites = [suites] if suites.tag == "testsuite" else list(suites)
    keys = ("tests", "failures", "errors", "skipped")
    count = {k: sum(int(s.get(k, 0)) for s in suites) for k in keys}
    count["passed"] = count["tests"] - count["failures"] - count["errors"] - count["skipped"]
    return count


def bench(path: Path) -> dict | None:
    if not path.is_file():
        return None
    rows = json.loads(path.read_text())
    by = {(r["engine"], r["batch"]): r for r in rows}
    out = {}
    for batch in sorted({r["batch"] for r in rows}):
        rate = {e: r["img_steps_per_s"] for (e, b), r in by.items() if b == batch}
        fast = rate.get("fast")
        entry = {"img_steps_per_s": rate}
        if fast is not None:
            for other in ("reference", "ceiling", "spikingjelly", "step"):
                if other in rate:
                    entry[f"fast_over_{other}"] = fast / rate[other]
            if batch in TARGETS:
                entry["target"] = TARGETS[batch]
                entry["target_met"] = fast >= TARGETS[batch]
            if "ceiling" in rate and "step" in rate:  # fp32 at the ceiling, never below the loop
                entry["at_ceiling"] = fast >= rate["ceiling"]
                entry["not_slower_than_step"] = fast >= rate["step"]
        entry["agreement"] = {e: by[(e, batch)]["agreement"] for e in rate}
        out[str(batch)] = entry
    return out


def generation(path: Path) -> dict | None:
    if not path.is_file():
        return None
    (row,) = json.loads(path.read_text())
    return {
        "seconds": row["seconds"],
        "images": row["batch"],
        "timesteps": row["timesteps"],
        "target_seconds": GENERATION_SECONDS,
        "target_met": row["seconds"] < GENERATION_SECONDS,
    }


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        raise SystemExit("usage: python scripts/gpu_summary.py OUT")
    out = Path(args[0])
    device = out / "device.json"
    summary = {
        "device": json.loads(device.read_text()) if device.is_file() else None,
        "tests": tests(out / "tests.xml"),
        "bench": bench(out / "bench" / "bench.json"),
        "bench_resnet": bench(out / "bench_resnet" / "bench.json"),
        "generation": generation(out / "generation" / "bench.json"),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
