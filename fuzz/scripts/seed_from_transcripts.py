#!/usr/bin/env python3
"""Builds raw (unminimized) seed inputs for the structured fuzz targets from the golden
transcripts in tests/vectors/*.jsonl: one file per transcript holding its wire frames
(both directions, one per line). The targets read their input positionally through
`arbitrary::Unstructured`, so these bytes give libFuzzer realistic JSON-shaped starting
points. Minimize the result with `cargo fuzz cmin` (see fuzz/README.md).

Usage: python3 fuzz/scripts/seed_from_transcripts.py OUT_DIR
"""
import json
import pathlib
import sys

root = pathlib.Path(__file__).resolve().parents[2]
out = pathlib.Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
for path in sorted((root / "tests" / "vectors").glob("*.jsonl")):
    frames = []
    for line in path.read_text().splitlines():
        rec = json.loads(line)
        if "raw" in rec:
            frames.append(rec["raw"])
    if frames:
        (out / f"{path.stem}.seed").write_text("\n".join(frames) + "\n")
