"""Bot dispatch figures (issue 10, docs/performance.md "Bots"): a real lobbykit-server, bot
providers as separate processes on the lobbykit Python package (lobbykit.BotProvider), and
one watching member per lobby (Python websockets).

  1. dispatch -> joined: --dispatches admin PUTs, one every --pace-ms, spread over the
     lobbies; each is timed from just before its PUT to the moment the lobby's member sees the
     bot's participant_joined. Providers: --providers processes of --max-jobs each.
  2. kill -9 -> back: one provider holding bots is killed; each of its bots is timed from the
     kill to its replacement's participant_joined in the same lobby (the server's defaults:
     the reclaim window is the bulk of it).

    /usr/bin/python3 bench/bots/bench_bots.py --server build/lobbykit-server \\
        [--python-path build/python] [--providers 4] [--dispatches 100] [--json FILE]

Prints a Markdown table with the command that produced it. Nothing here is asserted: figures
are for docs/performance.md.
"""
import argparse
import asyncio
import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import websockets

HERE = Path(__file__).resolve().parent
KEY = "bench-provider-key"
ADMIN = "bench-admin"


def pct(values, p):
    s = sorted(values)
    if not s:
        return float("nan")
    k = min(len(s) - 1, max(0, round(p / 100 * (len(s) - 1))))
    return s[k]


def http(port, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method,
                                 headers={"Authorization": f"Bearer {ADMIN}",
                                          "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read() or b"{}")


class Member:
    """One person in one lobby, noting when each bot joins."""

    def __init__(self, port, lobby_id, name):
        self.port, self.lobby_id, self.name = port, lobby_id, name
        self.joined = {}        # bot peer id -> monotonic time of participant_joined
        self.new_bot = asyncio.Event()

    async def run(self, ready):
        async with websockets.connect(f"ws://127.0.0.1:{self.port}/ws", ping_interval=None,
                                      max_size=None) as ws:
            await ws.send(json.dumps({"type": "auth", "id": 1}))
            await ws.send(json.dumps({"type": "set_name", "id": 2, "data": {"name": self.name}}))
            await ws.send(json.dumps({"type": "join_lobby", "id": 3,
                                      "data": {"lobby_id": self.lobby_id}}))
            async for raw in ws:
                t = time.monotonic()
                msg = json.loads(raw)
                if msg.get("id") == 3:
                    ready.set()
                if msg.get("type") == "participant_joined" and \
                        msg["data"]["participant"]["is_bot"]:
                    self.joined[msg["data"]["participant"]["peer_id"]] = t
                    self.new_bot.set()


async def wait_bot(member, known, timeout):
    """The time the first bot not in `known` joined the member's lobby."""
    deadline = time.monotonic() + timeout
    while True:
        fresh = [t for p, t in member.joined.items() if p not in known]
        if fresh:
            return min(fresh)
        member.new_bot.clear()
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"no bot joined lobby {member.lobby_id} within {timeout} s")
        try:
            await asyncio.wait_for(member.new_bot.wait(), left)
        except asyncio.TimeoutError:
            pass


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--python-path", default="build/python",
                    help="where the lobbykit package is (PYTHONPATH of the providers)")
    ap.add_argument("--providers", type=int, default=4)
    ap.add_argument("--max-jobs", type=int, default=50)
    ap.add_argument("--dispatches", type=int, default=100)
    ap.add_argument("--pace-ms", type=int, default=50)
    ap.add_argument("--json")
    ap.add_argument("--md", default=str(HERE.parent / "results" / "bots.md"),
                    help="where to write the Markdown section docs/performance.md includes")
    args = ap.parse_args()

    server = subprocess.Popen([args.server, "--host", "127.0.0.1", "--port", "0", "--memory",
                               "--no-static", "--admin-token", ADMIN, "--provider-key", KEY,
                               "--max-lobbies-per-address", "100000",
                               "--max-sessions-per-address", "100000"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = server.stdout.readline()
    port = int(re.search(r":(\d+)", line.split("http://", 1)[1]).group(1))
    env = dict(os.environ, PYTHONPATH=os.path.abspath(args.python_path),
               LOBBYKIT_URL=f"ws://127.0.0.1:{port}/ws", LOBBYKIT_PROVIDER_KEY=KEY)
    providers = [subprocess.Popen([sys.executable, str(HERE / "idle_provider.py"),
                                   "--name", f"bench-{i}", "--max-jobs", str(args.max_jobs)],
                                  env=env, stdout=subprocess.DEVNULL)
                 for i in range(args.providers)]
    members = []
    tasks = []
    try:
        deadline = time.monotonic() + 30
        while True:
            listed = http(port, "GET", "/api/admin/bots/providers")["providers"]
            if sum(p["connected"] for p in listed) == args.providers:
                break
            if time.monotonic() > deadline:
                raise TimeoutError("providers did not register")
            await asyncio.sleep(0.1)

        lobbies = [http(port, "POST", "/api/lobbies", {"name": f"bench {i}"})["lobby"]["id"]
                   for i in range(args.dispatches)]
        for i, lobby in enumerate(lobbies):
            ready = asyncio.Event()
            m = Member(port, lobby, f"member {i}")
            members.append(m)
            tasks.append(asyncio.create_task(m.run(ready)))
            await asyncio.wait_for(ready.wait(), 10)

        # 1. dispatch -> joined
        starts = []
        for i, m in enumerate(members):
            starts.append(time.monotonic())
            await asyncio.to_thread(http, port, "PUT", f"/api/admin/lobbies/{m.lobby_id}/bots/idle",
                                    {"kind": "idle"})
            await asyncio.sleep(args.pace_ms / 1000)
        join_ms = []
        for t0, m in zip(starts, members):
            t1 = await wait_bot(m, set(), 30)
            join_ms.append((t1 - t0) * 1000)

        # 2. kill -9 of one provider -> its bots back
        listed = http(port, "GET", "/api/admin/bots/providers")["providers"]
        victim_info = max(listed, key=lambda p: p["running"])
        victim = providers[int(victim_info["name"].split("-")[1])]
        dispatches = http(port, "GET", "/api/admin/bots/dispatches")["dispatches"]
        lost_lobbies = {d["lobby_id"] for d in dispatches
                        if d["job"] and d["job"]["provider_id"] == victim_info["provider_id"]}
        by_lobby = {m.lobby_id: m for m in members}
        before = {lob: set(by_lobby[lob].joined) for lob in lost_lobbies}
        t_kill = time.monotonic()
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        back_ms = []
        for lob in lost_lobbies:
            t1 = await wait_bot(by_lobby[lob], before[lob], 60)
            back_ms.append((t1 - t_kill) * 1000)

        result = {
            "providers": args.providers, "max_jobs": args.max_jobs,
            "dispatches": args.dispatches, "pace_ms": args.pace_ms,
            "join_ms": {"p50": pct(join_ms, 50), "p99": pct(join_ms, 99), "max": max(join_ms)},
            "killed_bots": len(back_ms),
            "back_ms": {"p50": pct(back_ms, 50), "max": max(back_ms) if back_ms else None},
            "machine": f"{platform.node()} {os.cpu_count()} cores",
        }
    finally:
        for t in tasks:
            t.cancel()
        for p in providers:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in providers:
            try:
                p.wait(timeout=40)
            except subprocess.TimeoutExpired:
                p.kill()
        server.send_signal(signal.SIGINT)  # stop at once (SIGTERM drains)
        server.wait(timeout=20)

    cmd = " ".join(["/usr/bin/python3", "bench/bots/bench_bots.py"] + sys.argv[1:])
    j, b = result["join_ms"], result["back_ms"]
    load = os.getloadavg()[0]
    md = "\n".join([
        "## Bots: dispatch and recovery",
        "",
        f"Printed by `{cmd}` on {time.strftime('%Y-%m-%d %H:%M')} ({result['machine']}, load "
        f"average {load:.1f} at the end): a Release `lobbykit-server`, {args.providers} provider "
        f"processes on `lobbykit.BotProvider` (kind `idle`, bots without media), one member per "
        "lobby watching for the bot's `participant_joined`.",
        "",
        "| measure | p50 | p99 | max |",
        "|---|---|---|---|",
        f"| admin PUT → bot in the lobby ({args.dispatches} dispatches, one per {args.pace_ms} "
        f"ms, {args.providers} providers) | {j['p50']:.1f} ms | {j['p99']:.1f} ms | "
        f"{j['max']:.1f} ms |",
        f"| provider `kill -9` → its bot back in the lobby ({result['killed_bots']} bots, "
        f"default `bot_reclaim_ms` 10 s, 1 s tick) | {b['p50']:.0f} ms | | {b['max']:.0f} ms |",
        "",
        "The recovery is the reclaim window (a provider that comes back within it keeps its "
        "jobs) plus up to one tick of the server's 1 s bot timer plus a new bot's start.",
    ])
    print(md)
    if args.md:
        Path(args.md).write_text(md + "\n")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
