"""The voicebot's CPU per connected peer (issue 10; docs/performance.md "Bots"). The mesh makes a
bot encode its voice once per peer and decode every peer's audio, so its cost grows with the
lobby. For lobbies of 2, 4 and 8 (one assistant, the rest people on aiortc sending silence,
as a listening call mostly is), the voicebot process's CPU time (utime + stime from
/proc/PID/stat) is sampled over --seconds once every person's connection to the bot is up.

    /usr/bin/python3 bench/bots/voicebot_cpu.py --server build/lobbykit-server \\
        [--python-path build/python] [--seconds 20] [--sizes 2,4,8]

The people run in this process: their own CPU is not counted. Prints a Markdown table and
appends it to bench/results/bots.md (which docs/performance.md includes).
"""
import argparse
import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
KEY = "bench-voicebot-key"


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def lobby_of(port, size):
    """A lobby of `size`: `size - 1` people and an assistant, every pair connected. Returns
    the people (client, mesh) and the dispatch id."""
    import lobbykit
    from lobbykit.media import Mesh
    people = []
    try:
        for i in range(size - 1):
            client = lobbykit.AsyncClient(f"ws://127.0.0.1:{port}/ws", name=f"person {size}-{i}")
            mesh = Mesh(client)  # silence
            await client.start()
            people.append((client, mesh))
        first = people[0][0]
        lobby_id = (await first.create_lobby(f"cpu {size}"))["lobby"]["id"]
        for client, mesh in people:
            await client.join_lobby(lobby_id, has_media=True, video_muted=True)
            await mesh.start()
        added = await first.request("add_bot", {"kind": "assistant"})
        # The bot's peer id, then every person's incoming track from the bot (the people's
        # pairs with each other are not waited for).
        deadline = time.monotonic() + 60
        bot_peer = ""
        while not bot_peer:
            snap = await first.snapshot()
            bot_peer = next((p.peer_id for p in snap.participants if p.is_bot), "")
            if time.monotonic() > deadline:
                raise TimeoutError("the bot did not join")
            await asyncio.sleep(0.1)

        async def from_bot(mesh):
            async for peer_id, _track in mesh.tracks():
                if peer_id == bot_peer:
                    return
        await asyncio.wait_for(asyncio.gather(*(from_bot(mesh) for _, mesh in people)), 60)
        await asyncio.sleep(3)  # the bot's greeting and the connections settle
        return people, added["dispatch"]["dispatch_id"]
    except BaseException:
        for client, mesh in people:
            await mesh.close()
            await client.stop()
        raise


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--python-path", default="build/python")
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--sizes", default="2,4,8")
    ap.add_argument("--md", default=str(HERE.parent / "results" / "bots.md"))
    args = ap.parse_args()
    sys.path.insert(0, os.path.abspath(args.python_path))
    sys.path.insert(0, str(REPO / "tests" / "python"))
    import voice_peer
    voice_peer._loopback_acquire()  # ICE on loopback, as in the tests (no STUN, no LAN)

    server = subprocess.Popen([args.server, "--host", "127.0.0.1", "--port", "0", "--memory",
                               "--no-static", "--provider-key", KEY,
                               "--max-participants", "16"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    port = int(re.search(r":(\d+)", server.stdout.readline().split("http://", 1)[1]).group(1))
    launcher = (f"import sys, runpy; sys.path.insert(0, {str(REPO / 'tests' / 'python')!r}); "
                f"import voice_peer; voice_peer._loopback_acquire(); sys.argv = ['main.py', "
                f"'--url', 'ws://127.0.0.1:{port}/ws', '--key', {KEY!r}, '--max-jobs', '8']; "
                f"runpy.run_path({str(REPO / 'examples' / 'voicebot' / 'main.py')!r}, "
                f"run_name='__main__')")
    bot = subprocess.Popen([sys.executable, "-c", launcher], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL,
                           env=dict(os.environ, PYTHONPATH=os.path.abspath(args.python_path)))
    rows = []
    try:
        import json
        import urllib.request
        deadline = time.monotonic() + 30
        while True:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/bots/kinds") as r:
                if any(k["kind"] == "assistant" for k in json.loads(r.read())["kinds"]):
                    break
            if time.monotonic() > deadline:
                raise TimeoutError("the voicebot did not register")
            await asyncio.sleep(0.2)
        idle0 = cpu_seconds(bot.pid)
        await asyncio.sleep(args.seconds / 2)
        idle = (cpu_seconds(bot.pid) - idle0) / (args.seconds / 2)
        for size in [int(s) for s in args.sizes.split(",")]:
            people, dispatch_id = await lobby_of(port, size)
            c0, t0, p0 = cpu_seconds(bot.pid), time.monotonic(), cpu_seconds(os.getpid())
            await asyncio.sleep(args.seconds)
            wall = time.monotonic() - t0
            share = (cpu_seconds(bot.pid) - c0) / wall
            people_share = (cpu_seconds(os.getpid()) - p0) / wall
            rows.append((size, share, people_share))
            await people[0][0].request("remove_bot", {"dispatch_id": dispatch_id})
            for client, mesh in people:
                await mesh.close()
                await client.stop()
            await asyncio.sleep(3)  # the bot's job ends before the next lobby
    finally:
        bot.send_signal(signal.SIGKILL)
        bot.wait()
        server.send_signal(signal.SIGINT)  # stop at once (SIGTERM drains)
        server.wait(timeout=20)

    cmd = " ".join(["/usr/bin/python3", "bench/bots/voicebot_cpu.py"] + sys.argv[1:])
    lines = ["", "### The voicebot's CPU per peer", "",
             f"Printed by `{cmd}` on {time.strftime('%Y-%m-%d %H:%M')} (load average "
             f"{os.getloadavg()[0]:.1f}): one assistant bot (examples/voicebot) in a lobby with "
             "people on aiortc sending silence; the voicebot process's CPU over "
             f"{args.seconds:g} s once every pair is connected. Registered but in no lobby it "
             f"used {idle * 100:.1f} % of a core.",
             "", "| lobby | peers of the bot | voicebot CPU (% of one core) | per peer | "
             "such bots one core carries | the people's process (generator) |",
             "|---|---|---|---|---|---|"]
    for size, share, people_share in rows:
        lines.append(f"| {size} | {size - 1} | {share * 100:.1f} % | "
                     f"{share * 100 / (size - 1):.1f} % | {1 / share:.1f} | "
                     f"{people_share * 100:.0f} % |")
    lines += ["", "A bot's cost is a fixed part (its own loop, the silence it sends) and a part "
              "per peer (one Opus encode and one decode, resampling and voice detection each); "
              "people who speak add recognition (about 18 ms per utterance, "
              "examples/voicebot/measure.py). When the people's process is near 100 % of a "
             "core, it is the bottleneck (it sends and receives less than real time) and the "
             "voicebot's figure for that lobby is a lower bound."]
    md = "\n".join(lines)
    print(md)
    if args.md:
        with open(args.md, "a") as f:
            f.write(md + "\n")


if __name__ == "__main__":
    asyncio.run(main())
