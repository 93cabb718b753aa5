"""A bot provider process for test_bots.py, written as a user would write one:

    bot_program.py URL KEY [--max-jobs N] [--drain-timeout S] [--media]

Kinds (handlers below):
  greeter  says "hello from <bot_name> (attempt <n>)" in its lobby, then stays until the job is
           cancelled; metadata {"leave": TEXT} says TEXT and ends the job instead;
           {"linger": S} makes it take S seconds to clean up after a cancel ("job <id>
           lingered" when done);
  voice    (--media) sends a tone of metadata["tone_hz"] Hz, measures the first peer's audio
           and says "heard <hz> Hz".
It prints "registered <provider_id> new|resumed" for each hello result, "cancel <job_id>
<reason>" for each job_cancel, and "job <id> <event>" lines from the handlers; SIGTERM drains
(bounded by --drain-timeout) and exits 0.
"""

import argparse
import asyncio
import logging
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import lobbykit  # noqa: E402


def say(*parts):
    print(*parts, flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("key")
    parser.add_argument("--max-jobs", type=int, default=2)
    parser.add_argument("--drain-timeout", type=float, default=5.0)
    parser.add_argument("--media", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    kinds = {"greeter": "Says hello"}
    if args.media:
        kinds["voice"] = "Sends a tone, tells what it hears"
    provider = lobbykit.BotProvider(args.url, key=args.key, name="test-host", kinds=kinds,
                                    max_jobs=args.max_jobs, media=args.media,
                                    drain_timeout=args.drain_timeout, version="test 1")

    def on_event(e):
        if isinstance(e, lobbykit.bots.Registered):
            say("registered", e.provider_id, "resumed" if e.resumed else "new")
        elif isinstance(e, lobbykit.bots.JobCancelled):
            say("cancel", e.job_id, e.reason)
    provider.subscribe(on_event)

    @provider.handler("greeter")
    async def greeter(ctx: lobbykit.JobContext) -> None:
        say("job", ctx.job_id, "started", ctx.bot_name)
        try:
            if "fail" in ctx.metadata:
                raise RuntimeError(ctx.metadata["fail"])
            if "leave" in ctx.metadata:
                await ctx.client.chat(ctx.metadata["leave"])
                return
            await ctx.client.chat(f"hello from {ctx.bot_name} (attempt {ctx.attempt})")
            await asyncio.Event().wait()  # until cancelled
        except asyncio.CancelledError:
            say("job", ctx.job_id, "cancelled", ctx.cancel_reason)
            if "linger" in ctx.metadata:
                await asyncio.sleep(float(ctx.metadata["linger"]))
                say("job", ctx.job_id, "lingered")
            raise

    if args.media:
        from voice_peer import loopback_ice, measure_track
        from lobbykit.media import ToneTrack

        @provider.handler("voice")
        async def voice(ctx: lobbykit.JobContext) -> None:
            say("job", ctx.job_id, "started", ctx.bot_name)
            ctx.media.set_audio(ToneTrack(float(ctx.metadata.get("tone_hz", 440))))
            async for peer_id, track in ctx.media.tracks():
                heard = await measure_track(track, timeout=15)
                await ctx.client.chat(f"heard {heard.frequency_hz:.0f} Hz")
                break
            await asyncio.Event().wait()

        with loopback_ice():
            asyncio.run(provider.run())
    else:
        asyncio.run(provider.run())
    say("stopped")


if __name__ == "__main__":
    main()
