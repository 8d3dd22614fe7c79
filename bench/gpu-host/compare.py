"""Compares `gputel devices --json` with nvidia-smi's CSV views taken in the same second.

usage: compare.py GPUTEL_JSON SMI_CSV APPS_CSV HOLDER_PID   (prints Markdown)
Memory must agree to the MiB; the PyTorch holder process's memory must match nvidia-smi's.
"""
import csv
import json
import sys

MIB = 1024 * 1024


def main(gputel_path, smi_path, apps_path, holder_pid):
    ours = json.load(open(gputel_path))
    smi = list(csv.reader(open(smi_path), skipinitialspace=True))
    apps = list(csv.reader(open(apps_path), skipinitialspace=True))
    by_uuid = {g["uuid"]: g for g in ours["gpus"]}
    failures = 0
    print(f"\ngputel's one full sample of {len(ours['gpus'])} GPU(s) took {ours['sample_seconds'] * 1000:.3f} ms\n")
    print("| GPU | memory used MiB (gputel / nvidia-smi) | total | reserved | util % | power W | temp C | SM MHz | match |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for index, uuid, total, used, free, reserved, util, power, temp, sm, mem in smi:
        g = by_uuid.get(uuid)
        if g is None:
            print(f"| {index} | gputel did not report {uuid} | | | | | | | NO |")
            failures += 1
            continue
        m = g["memory"]
        ours_used, ours_total, ours_reserved = (round(m[k] / MIB) for k in ("used_bytes", "total_bytes", "reserved_bytes"))
        ok = abs(ours_used - int(used)) <= 1 and ours_total == int(total) and abs(ours_reserved - int(reserved)) <= 1
        failures += not ok
        print(f"| {index} | {ours_used} / {used} | {ours_total} / {total} | {ours_reserved} / {reserved} | "
              f"{round((g['utilization_ratio'] or 0) * 100)} / {util} | {g['power_watts']} / {power} | "
              f"{g['temperature_celsius']} / {temp} | {round((g['clocks_hertz']['sm'] or 0) / 1e6)} / {sm} | {'yes' if ok else 'NO'} |")

    print("\n| pid | GPU | gputel MiB | nvidia-smi MiB | match |")
    print("| --- | --- | --- | --- | --- |")
    holder_seen = False
    for pid, uuid, used in apps:
        g = by_uuid.get(uuid, {"processes": []})
        mine = [p for p in g["processes"] if str(p["pid"]) == pid]
        ours_mib = round(mine[0]["used_bytes"] / MIB) if mine else None
        ok = ours_mib is not None and abs(ours_mib - int(used)) <= 1
        failures += not ok
        holder_seen |= pid == holder_pid
        print(f"| {pid}{' (PyTorch, 3 GiB tensor)' if pid == holder_pid else ''} | {g.get('index', '?')} | {ours_mib} | {used} | {'yes' if ok else 'NO'} |")
    if not holder_seen:
        print(f"\nthe PyTorch holder process {holder_pid} was not listed by nvidia-smi")
        failures += 1
    print(f"\nresult: {'all figures agree' if failures == 0 else f'{failures} mismatch(es)'}")


if __name__ == "__main__":
    main(*sys.argv[1:5])
