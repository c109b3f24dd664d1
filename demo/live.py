#!/usr/bin/python3
"""The demo's live channel: a WebSocket server (Debian's python3-websockets)
behind nginx's "location = /live" in the cabinet. It greets the user nginx
named in X-User-Id, sends the time every few seconds and echoes what the
page sends. It knows nothing about sessions: when the session ends (sign
out, "sign out" of that session on the sessions page of another browser),
nginx closes the connection (session_live_close on).

Run by scripts/demo:
    /usr/bin/python3 demo/live.py --port 15013
"""

import argparse
import asyncio
import time

import websockets


async def live(ws, path=None):
    user = ws.request_headers.get("X-User-Id") or "?"
    try:
        await ws.send(f"hello {user}")
        while True:
            try:
                msg = await asyncio.wait_for(ws.recv(), timeout=5)
                await ws.send(f"echo {msg}")
            except asyncio.TimeoutError:
                await ws.send(time.strftime("tick %H:%M:%S"))
    except websockets.ConnectionClosed:
        pass


async def main(port):
    async with websockets.serve(live, "127.0.0.1", port):
        await asyncio.Future()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=15013)
    asyncio.run(main(ap.parse_args().port))
