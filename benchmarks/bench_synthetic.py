"""Throughput of the synthetic pair generator on one CPU core (goal: >= 200 pairs/s at 256 px).

    python benchmarks/bench_synthetic.py --num-pairs 2000 --image-size 256

Measures rendering alone (PIL images, what training loops consume) and the full path into a
`datasets.Dataset` (PNG-encoded), in one run. There is no other implementation to compare with:
the figure is checked against the goal.
"""

from __future__ import annotations

import argparse
import os
import time

from edit_handbook.data.synthetic import generate_dataset, generate_pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-pairs", type=int, default=2000)
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--goal", type=float, default=200.0)
    args = parser.parse_args()
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core, as the goal is stated

    list(generate_pairs(50, image_size=args.image_size))  # warm caches (pattern masks, imports)
    start = time.perf_counter()
    for _ in generate_pairs(args.num_pairs, image_size=args.image_size, start=10_000):
        pass
    render = args.num_pairs / (time.perf_counter() - start)

    start = time.perf_counter()
    generate_dataset(args.num_pairs, seed=int(time.time()), image_size=args.image_size)  # fresh seed: no cache hit
    encoded = args.num_pairs / (time.perf_counter() - start)

    print(f"pairs: {args.num_pairs} at {args.image_size} px, one core")
    print(f"render only           {render:8.1f} pairs/s  ({render / args.goal:.2f}x the {args.goal:.0f} pairs/s goal)")
    print(f"into datasets.Dataset {encoded:8.1f} pairs/s  ({encoded / args.goal:.2f}x the goal)")


if __name__ == "__main__":
    main()
