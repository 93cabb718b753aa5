#!/usr/bin/env python3
"""Plots for docs/performance.md from bench/results/summary.json (Debian's python3-matplotlib).

    /usr/bin/python3 bench/plot.py bench/results/summary.json docs/performance
writes relay.png (relay throughput and server CPU per message, per server and size),
broadcast.png (delivery latency against lobby size) and sessions.png (new sessions per second
and memory per idle session against how many there are, up to the 100,000 target, with what
lies past this machine's open-file limit shaded).
"""

import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

NAMES = {"lobbykit": "lobbykit", "raw": "raw relay", "peerjs": "PeerJS"}
COLORS = {"lobbykit": "#2b6cb0", "raw": "#718096", "peerjs": "#dd6b20"}


def relay_plot(summary, out):
    relay = summary.get("relay", {})
    groups = []  # (label, mode, size)
    for key in relay:
        _, mode, size, _ = key.split("-")
        label = {"sat": f"saturated {size} B", "paced": f"paced {size} B",
                 "pingpong": f"ping-pong {size} B"}[mode]
        if (label, mode, size) not in groups:
            groups.append((label, mode, size))
    if not groups:
        return
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.2))
    width = 0.26
    for i, target in enumerate(["lobbykit", "raw", "peerjs"]):
        xs, thr, cpu = [], [], []
        for g, (label, mode, size) in enumerate(groups):
            row = relay.get(f"relay-{mode}-{size}-{target}")
            if not row:
                continue
            xs.append(g + (i - 1) * width)
            thr.append((row["msgs_per_s"] or 0) / 1000)
            cpu.append(row["server_cpu"] or 0)
        ax1.bar(xs, thr, width, label=NAMES[target], color=COLORS[target])
        ax2.bar(xs, cpu, width, label=NAMES[target], color=COLORS[target])
    for ax in (ax1, ax2):
        ax.set_xticks(range(len(groups)))
        ax.set_xticklabels([g[0] for g in groups], fontsize=8)
        ax.grid(axis="y", alpha=0.3)
    ax1.set_ylabel("thousand messages / s (median)")
    ax1.set_title("Relay throughput")
    ax2.set_ylabel("server CPU seconds per 100k messages")
    ax2.set_title("Server CPU per relayed message")
    ax1.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "relay.png"), dpi=110)
    plt.close(fig)


def broadcast_plot(summary, out):
    b = summary.get("broadcast", {})
    sizes = sorted(int(k) for k in b)
    if not sizes:
        return
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for q, style in (("p50", "o-"), ("p99", "s-"), ("max", "^--")):
        ax.plot(sizes, [(b[str(s)] if str(s) in b else b[s])[q] / 1000 for s in sizes], style,
                label=q)
    ax.axhline(10, color="#c53030", lw=0.8, ls=":", label="target p99 at 1,000: 10 ms")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(sizes)
    ax.set_xticklabels([f"{s:,}" for s in sizes])
    ax.set_xlabel("lobby members")
    ax.set_ylabel("delivery latency, ms")
    ax.set_title("Chat broadcast: latency per recipient")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "broadcast.png"), dpi=110)
    plt.close(fig)


def sessions_plot(summary, hard, out):
    connect = {int(k): v for k, v in summary.get("connect", {}).items() if v.get("cps")}
    idle = {int(k): v for k, v in summary.get("idle", {}).items() if v}
    if not connect and not idle:
        return
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.2))
    if connect:
        xs = sorted(connect)
        ax1.plot(xs, [connect[x]["cps"] for x in xs], "o-", color=COLORS["lobbykit"],
                 label="lobbykit (median)")
    ax1.axhline(5000, color="#c53030", lw=0.8, ls=":", label="target: 5,000/s up to 50,000 open")
    ax1.set_ylabel("new sessions / s (open, auth, name, join)")
    ax1.set_title("New sessions per second")
    if idle:
        xs = sorted(idle)
        ax2.plot(xs, [idle[x] / 1024 for x in xs], "o-", color=COLORS["lobbykit"],
                 label="lobbykit (median)")
    ax2.axhline(8, color="#c53030", lw=0.8, ls=":", label="target: 8 KiB each, 100,000 sessions")
    ax2.set_ylabel("server RSS per idle session, KiB")
    ax2.set_title("Memory per idle authenticated session")
    for ax in (ax1, ax2):
        ax.set_xscale("log")
        ax.set_xlim(700, 140000)
        ax.set_ylim(bottom=0)
        ticks = [1000, 10000, 50000, 100000]
        ax.set_xticks(ticks)
        ax.set_xticklabels([f"{t:,}" for t in ticks])
        ax.set_xlabel("sessions")
        if hard and hard < 140000:
            ax.axvspan(hard, 140000, color="#a0aec0", alpha=0.25,
                       label=f"past this machine's open-file limit ({hard:,})")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    fig.savefig(os.path.join(out, "sessions.png"), dpi=110)
    plt.close(fig)


def main():
    with open(sys.argv[1]) as f:
        data = json.load(f)
    out = sys.argv[2]
    os.makedirs(out, exist_ok=True)
    relay_plot(data["summary"], out)
    broadcast_plot(data["summary"], out)
    sessions_plot(data["summary"], data["params"].get("open_files_hard_limit"), out)


if __name__ == "__main__":
    main()
