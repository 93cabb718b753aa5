"""A bot provider as its own process, for the integration tests (tests/integration/test_bots.py).

It speaks the provider protocol of docs/bots.md with Python's `websockets`, independently of
lobbykit's own clients, so the server is tested against the documented protocol alone. Each
job it accepts gets a bot: a second WebSocket that authenticates with the job's credential
and joins the lobby. It prints one JSON object per line on stdout for the test to follow
(``{"event": "registered", ...}``, ``offer``, ``accepted``, ``joined``, ``cancel``,
``closed``), and reconnects (resuming its provider id) when the server goes away.

    provider_proc.py --port N --key KEY [--name NAME] [--kinds a,b] [--max-jobs N]
                     [--mode normal|decline|ignore]
"""
import argparse
import asyncio
import json
import sys

import websockets


def emit(**fields):
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


class Provider:
    def __init__(self, args):
        self.args = args
        self.url = f"ws://127.0.0.1:{args.port}/ws"
        self.provider_id = None
        self.token = None
        self.bots = {}        # job id -> task running the bot's connection
        self.next_id = 0
        self.pending = {}     # request id -> future

    async def request(self, ws, type_, data):
        self.next_id += 1
        rid = self.next_id
        fut = asyncio.get_running_loop().create_future()
        self.pending[rid] = fut
        await ws.send(json.dumps({"type": type_, "id": rid, "data": data}))
        return await asyncio.wait_for(fut, 10)

    async def run(self):
        while True:
            try:
                async with websockets.connect(self.url, ping_interval=None) as ws:
                    await self.session(ws)
            except (OSError, websockets.WebSocketException, asyncio.TimeoutError) as e:
                emit(event="closed", detail=str(e)[:200])
            await asyncio.sleep(0.2)

    async def session(self, ws):
        reader = asyncio.ensure_future(self.read(ws))
        hello = {"key": self.args.key, "name": self.args.name, "version": "test",
                 "kinds": [{"kind": k, "description": f"{k} for tests"}
                           for k in self.args.kinds.split(",")],
                 "max_jobs": self.args.max_jobs}
        if self.provider_id:
            hello["resume"] = {"provider_id": self.provider_id, "token": self.token}
        reply = await self.request(ws, "provider_hello", hello)
        if reply["type"] == "error":
            emit(event="refused", code=reply["data"]["code"])
            await reader
            return
        data = reply["data"]
        self.provider_id, self.token = data["provider_id"], data["token"]
        emit(event="registered", provider_id=self.provider_id, resumed=data["resumed"],
             jobs=[j["job_id"] for j in data["jobs"]])
        interval = data["status_interval_ms"] / 1000
        try:
            while not reader.done():
                await ws.send(json.dumps({"type": "provider_status", "data": {
                    "load": 0.0, "jobs": list(self.bots), "accepting": True}}))
                await asyncio.wait([reader], timeout=interval)
        finally:
            reader.cancel()
        code = ws.close_code
        emit(event="closed", code=code)

    async def read(self, ws):
        try:
            async for raw in ws:
                msg = json.loads(raw)
                if msg.get("id") in self.pending:
                    self.pending.pop(msg["id"]).set_result(msg)
                    continue
                asyncio.ensure_future(self.push(ws, msg))
        except websockets.ConnectionClosed:
            pass

    async def push(self, ws, msg):
        t, data = msg["type"], msg.get("data") or {}
        if t == "job_offer":
            emit(event="offer", job_id=data["job_id"], kind=data["kind"],
                 lobby_id=data["lobby_id"], attempt=data["attempt"])
            if self.args.mode == "ignore":
                return
            if self.args.mode == "decline":
                await self.request(ws, "job_decline", {"job_id": data["job_id"]})
                return
            reply = await self.request(ws, "job_accept", {"job_id": data["job_id"]})
            if reply["type"] != "result":
                emit(event="accept_failed", code=reply["data"]["code"])
                return
            a = reply["data"]
            emit(event="accepted", job_id=a["job_id"], bot_name=a["bot_name"])
            self.bots[a["job_id"]] = asyncio.ensure_future(self.bot(a))
        elif t == "job_cancel":
            emit(event="cancel", job_id=data["job_id"], reason=data["reason"])
            task = self.bots.pop(data["job_id"], None)
            if task:
                task.cancel()
        elif t == "drain":
            emit(event="drain")

    async def bot(self, a):
        async with websockets.connect(self.url, ping_interval=None) as ws:
            await ws.send(json.dumps({"type": "auth", "id": 1, "data": {"credential": a["credential"]}}))
            welcome = json.loads(await ws.recv())
            if welcome["type"] != "welcome":
                emit(event="bot_refused", job_id=a["job_id"], code=welcome["data"]["code"])
                return
            await ws.send(json.dumps({"type": "join_lobby", "id": 2,
                                      "data": {"lobby_id": a["lobby_id"]}}))
            while True:
                msg = json.loads(await ws.recv())
                if msg.get("id") == 2:
                    emit(event="joined" if msg["type"] == "result" else "join_failed",
                         job_id=a["job_id"], peer_id=welcome["data"]["peer_id"],
                         name=welcome["data"]["name"])
                    break
            async for _ in ws:  # stay until cancelled or closed
                pass


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--name", default="test-provider")
    p.add_argument("--kinds", default="assistant")
    p.add_argument("--max-jobs", type=int, default=4)
    p.add_argument("--mode", default="normal", choices=["normal", "decline", "ignore"])
    args = p.parse_args()
    try:
        asyncio.run(Provider(args).run())
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
