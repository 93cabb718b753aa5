#!/usr/bin/python3
"""Tables for run.sh from the callgrind files of lobbykit-inproc-cost.

usage: summarize.py OUT_DIR CASE...   (OUT_DIR holds CASE.out, callgrind, and CASE.txt, the
program's key=value line). Reads callgrind's own file format for totals, per-function
inclusive costs and call counts (heap allocations), and callgrind_annotate for the top-10
lists. Prints markdown.
"""
import re
import subprocess
import sys
from collections import defaultdict

NAME = re.compile(r"\((\d+)\)(?: (.*))?$")


def parse(path):
    """Self cost and calls per function name (inlined pieces merged), and the total."""
    names, selfc = {}, defaultdict(int)
    calls = defaultdict(lambda: [0, 0])  # (caller, callee) -> [count, inclusive Ir]
    total, fn, cfn, pending = 0, None, None, None

    def resolve(tok):
        m = NAME.match(tok.strip())
        if not m:
            return tok.strip()
        if m.group(2) is not None:
            names[m.group(1)] = m.group(2)
        return names[m.group(1)]

    with open(path) as f:
        for line in f:
            c = line[:1]
            if c.isdigit() or c in "+-*":
                parts = line.split()
                cost = int(parts[1]) if len(parts) > 1 else 0
                if pending is not None:
                    e = calls[(fn, cfn)]
                    e[0] += pending
                    e[1] += cost
                    pending = None
                else:
                    selfc[fn] += cost
            elif line.startswith("fn="):
                fn = resolve(line[3:])
            elif line.startswith("cfn="):
                cfn = resolve(line[4:])
            elif line.startswith("calls="):
                pending = int(line[6:].split()[0])
            elif line.startswith("totals:") or line.startswith("summary:"):
                total = int(line.split()[1])
    incl = defaultdict(int, selfc)
    ncalls = defaultdict(int)
    for (a, b), (n, cost) in calls.items():
        ncalls[b] += n
        if a != b:
            incl[a] += cost
    # Heap allocations: malloc + calloc + realloc calls, less realloc(NULL, n), which
    # calls malloc itself (RapidJSON's first allocation of every buffer is one).
    allocs = (ncalls["malloc"] + ncalls["calloc"] + ncalls["realloc"]
              - calls.get(("realloc", "malloc"), (0, 0))[0])
    return total, incl, ncalls, allocs


def inclusive(incl, pattern):
    """Inclusive Ir of the function whose name contains pattern (the largest such entry)."""
    hits = [v for k, v in incl.items() if pattern in k]
    return max(hits) if hits else 0


def meta(path):
    with open(path) as f:
        return dict(kv.split("=", 1) for kv in f.read().split())


def short(name):
    name = name.replace("(anonymous namespace)", "anon")
    prev = None
    while prev != name:  # drop template arguments, innermost first
        prev, name = name, re.sub(r"<[^<>]*>", "", name)
    prev = None
    while prev != name:  # drop parameter lists
        prev, name = name, re.sub(r"\([^()]*\)", "", name)
    name = name.replace(" const", "").replace("lobbykit::", "").replace("anon::", "")
    return name.strip()


WRAPPERS = ("(below main)", "__libc_start", "libc_start_call_main", "Bench::measure",
            "run_relay", "run_chat", ":main ", "0x0000")


def top10(out_path, messages, inclusive_flag):
    """callgrind_annotate's top 10 (wrappers of the harness left out), per message."""
    txt = subprocess.run(["callgrind_annotate", "--inclusive=" + inclusive_flag,
                          "--threshold=100", out_path], capture_output=True, text=True,
                         check=True).stdout
    rows = []
    body = txt.split("file:function", 1)[1]
    for line in body.splitlines():
        # "Ir (pct)  file:function [object]"; code inlined from another file has no [object].
        m = re.match(r"\s*([\d,]+) \(\s*([\d.]+)%\)\s+(.*?):(.*?)( \[.*\])?$", line)
        if not m:
            continue
        ir, pct, fil, fn = int(m.group(1).replace(",", "")), m.group(2), m.group(3), m.group(4)
        inlined = m.group(5) is None
        if inlined and inclusive_flag == "yes":
            continue  # a piece of a function listed already, not a function of its own
        if any(w in (":" + fn + " ") or w in fn for w in WRAPPERS):
            continue
        fil = fil.replace("/work/main/", "").replace("./", "")
        fil = re.sub(r"^.*/(include/)", r"\1", fil) if fil.startswith("/usr") else fil
        where = f"{fil} (inlined)" if inlined else fil
        rows.append(f"| {ir / messages:,.0f} | {pct}% | `{short(fn)}` | {where} |")
        if len(rows) == 10:
            break
    return rows


def main():
    out, cases = sys.argv[1], sys.argv[2:]
    data = {}
    for c in cases:
        total, incl, ncalls, allocs = parse(f"{out}/{c}.out")
        m = meta(f"{out}/{c}.txt")
        n = int(m["messages"])
        data[c] = dict(
            n=n, total=total, meta=m,
            per=total / n,
            hub=(inclusive(incl, "Hub::on_message") - inclusive(incl, "QueueOutbox::send")) / n,
            queue=inclusive(incl, "QueueOutbox::send") / n,
            write=inclusive(incl, "QueueOutbox::write_all") / n,
            allocs=allocs / n,
            locks=sum(v for k, v in ncalls.items() if "mutex_lock" in k or "futex" in k),
            frames=float(m["frames_per_message"]))

    print("### Per relayed message (Ir = instructions; exact, from callgrind)\n")
    print("| message | payload B | inbound B | Ir / message | hub: parse+route+serialize"
          " | queue (harness) | write: flush+dequeue | heap allocs / msg | frames / msg |")
    print("|---|---|---|---|---|---|---|---|---|")
    for c in cases:
        if not c.startswith("relay-"):
            continue
        d = data[c]
        print(f"| {c[6:]} | {d['meta']['payload_bytes']} | {d['meta']['inbound_bytes']} "
              f"| **{d['per']:,.0f}** | {d['hub']:,.0f} | {d['queue']:,.0f} | {d['write']:,.0f} "
              f"| {d['allocs']:.1f} | {d['frames']:.0f} |")
    print("\nIr / message = measured total / messages; hub = Hub::on_message minus the"
          " harness queue; write = one Hub::flush() per frame (memory store) + dequeue +"
          " frame release. Frames: the relayed push + the `result`.")

    chats = sorted((c for c in cases if c.startswith("chat-")), key=lambda c: int(c[5:]))
    if len(chats) >= 2:
        lo, hi = chats[0], chats[-1]
        nlo, nhi = int(lo[5:]), int(hi[5:])
        r = (data[hi]["per"] - data[lo]["per"]) / (nhi - nlo)
        fixed = data[lo]["per"] - nlo * r
        print("\n### Per broadcast recipient (chat, 100 B text, every member incl. sender)\n")
        print(f"Per recipient R = (C({nhi}) - C({nlo})) / ({nhi} - {nlo}) = "
              f"({data[hi]['per']:,.0f} - {data[lo]['per']:,.0f}) / {nhi - nlo} = **{r:,.1f} Ir**;"
              f" fixed part per message F = C({nlo}) - {nlo}·R = **{fixed:,.0f} Ir**"
              " (C(n) = Ir per chat message into a lobby of n).\n")
        print("| lobby n | messages | Ir / message C(n) | F + n·R (fit) | (C(n) - F) / n"
              " | C(n) / n | hub-only / n | heap allocs / msg | frames / msg |")
        print("|---|---|---|---|---|---|---|---|---|")
        for c in chats:
            d, k = data[c], int(c[5:])
            print(f"| {k} | {d['n']} | **{d['per']:,.0f}** | {fixed + k * r:,.0f} "
                  f"| **{(d['per'] - fixed) / k:,.1f}** | {d['per'] / k:,.1f} "
                  f"| {d['hub'] / k:,.1f} | {d['allocs']:.1f} | {d['frames']:.0f} |")
        print("\nhub-only / n excludes the harness queue and write phase; heap allocs include"
              " the harness queue's deque nodes (1 per 32 frames); frames = n pushes + 1"
              " `result`.")

    locks = sum(d["locks"] for d in data.values())
    print(f"\nMutex/futex calls in all measured sections: {locks}")
    for c, flag in (("relay-sdp200", "yes"), ("relay-sdp4k", "yes"), ("relay-sdp4k", "no"),
                    ("chat-1000", "no")):
        if c not in data:
            continue
        kind = "inclusive" if flag == "yes" else "self"
        print(f"\n### Top 10 by {kind} cost: {c} (callgrind_annotate --inclusive={flag})\n")
        print("| Ir / message | % | function | file |\n|---|---|---|---|")
        print("\n".join(top10(f"{out}/{c}.out", data[c]["n"], flag)))


if __name__ == "__main__":
    main()
