"""Print the median of each benchmark and its ratio to the first one of its group.

    python bench/report.py bench/chain.json
"""
import json
import platform
import sys
from collections import defaultdict


def main(path):
    data = json.load(open(path))
    machine = data.get("machine_info", {})
    print(f"machine: {machine.get('cpu', {}).get('brand_raw', platform.processor())}, "
          f"{machine.get('cpu', {}).get('count', '?')} cores, Python {machine.get('python_version', '?')}")
    groups = defaultdict(list)
    for bench in data["benchmarks"]:
        groups[bench["group"]].append(bench)
    for group, benches in groups.items():
        print(f"\n{group}")
        base = benches[0]["stats"]["median"]
        for bench in benches:
            median = bench["stats"]["median"]
            ops = bench.get("extra_info", {}).get("ops")
            per_op = f"{median / ops * 1e6:8.2f} µs/op" if ops else ""
            print(f"  {bench['name']:<48} median {median * 1e6:10.2f} µs  {per_op}  ×{median / base:5.2f}")


if __name__ == "__main__":
    main(sys.argv[1])
