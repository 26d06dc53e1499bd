"""The evaluate stage's latency part (the quality part is the rest of `hawkeye.evaluation`).

- `measure`: the poster's rows (Baseline, CoT only, Full) per concurrency level, with where the
  time went and what each process cost;
- `client`: the closed-loop streaming client; `stats`: per-request timings and percentiles;
- `machine`: the hardware and versions, CPU time of the client and of each server;
- `report`: `latency.json` and `latency.md`, the stage's latency outputs.
"""
