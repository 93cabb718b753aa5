"""The lobbykit voicebot: a bot provider offering `assistant` (answers spoken commands) and
`reader` (reads the chat aloud), fully offline. README.md has the setup.

    /usr/bin/python3 examples/voicebot/main.py --url ws://127.0.0.1:8080/ws --key KEY

SIGTERM or Ctrl-C: no new jobs, running ones get lobbykit's drain time, then it exits."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from voicebot import Recognizer, SpeechService, Synthesizer  # noqa: E402
from voicebot.lobby import KINDS, register  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", default=os.environ.get("LOBBYKIT_URL", "ws://127.0.0.1:8080/ws"),
                   help="the lobbykit server's WebSocket URL (env LOBBYKIT_URL)")
    p.add_argument("--key", default=os.environ.get("LOBBYKIT_PROVIDER_KEY"),
                   help="a provider key the server accepts (env LOBBYKIT_PROVIDER_KEY)")
    p.add_argument("--name", default=socket.gethostname()[:64], help="label for admins")
    p.add_argument("--kinds", default=",".join(KINDS),
                   help=f"kinds to offer, comma-separated (default: {','.join(KINDS)})")
    p.add_argument("--max-jobs", type=int, default=4, help="bots at once (default 4)")
    p.add_argument("--voice", default="en-us", help="espeak-ng voice (default en-us)")
    p.add_argument("-v", "--verbose", action="store_true", help="log every utterance")
    args = p.parse_args(argv)
    if not args.key:
        p.error("--key (or LOBBYKIT_PROVIDER_KEY) is required")
    args.kinds = [k for k in args.kinds.split(",") if k]
    unknown = set(args.kinds) - set(KINDS)
    if unknown:
        p.error(f"unknown kinds: {', '.join(sorted(unknown))}")
    return args


async def serve(args: argparse.Namespace) -> None:
    import lobbykit
    service = SpeechService(Recognizer(), Synthesizer(voice=args.voice))
    provider = lobbykit.BotProvider(args.url, key=args.key, name=args.name,
                                    kinds={k: KINDS[k] for k in args.kinds},
                                    max_jobs=args.max_jobs, version="voicebot 1",
                                    load=lobbykit.bots.cpu_load)
    register(provider, service, args.kinds)
    try:
        await provider.run()
    finally:
        service.close()


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    asyncio.run(serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
