"""A bot provider for the dispatch benchmark: kind "idle", whose bots join without media and
stay until their job is cancelled. LOBBYKIT_URL and LOBBYKIT_PROVIDER_KEY say where and how."""
import argparse
import asyncio
import os

import lobbykit


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", default="bench")
    ap.add_argument("--max-jobs", type=int, default=50)
    args = ap.parse_args()
    provider = lobbykit.BotProvider(os.environ["LOBBYKIT_URL"],
                                    key=os.environ["LOBBYKIT_PROVIDER_KEY"], name=args.name,
                                    kinds={"idle": "Joins and waits"}, max_jobs=args.max_jobs,
                                    media=False, drain_timeout=2.0)

    @provider.handler("idle")
    async def idle(ctx):
        await asyncio.Event().wait()  # until the job is cancelled

    asyncio.run(provider.run())


if __name__ == "__main__":
    main()
