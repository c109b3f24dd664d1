#!/usr/bin/python3
# The backend of t/165-live-close.t: a WebSocket echo server (Debian's
# python3-websockets) on WS_PORT and an endless server-sent event stream
# on SSE_PORT, both on 127.0.0.1.  Usage: live_backend.py WS_PORT SSE_PORT
import asyncio
import sys

import websockets


async def echo(ws, path=None):
    try:
        async for msg in ws:
            await ws.send(msg)
    except websockets.ConnectionClosed:
        pass


async def sse(reader, writer):
    try:
        while True:
            line = await reader.readline()
            if not line or line in (b"\r\n", b"\n"):
                break
        writer.write(b"HTTP/1.1 200 OK\r\n"
                     b"Content-Type: text/event-stream\r\n"
                     b"Cache-Control: no-cache\r\n"
                     b"Connection: close\r\n\r\n")
        n = 0
        while True:
            n += 1
            writer.write(b"data: tick %d\n\n" % n)
            await writer.drain()
            await asyncio.sleep(0.2)
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


async def main():
    ws_port, sse_port = int(sys.argv[1]), int(sys.argv[2])
    server = await asyncio.start_server(sse, "127.0.0.1", sse_port)
    async with websockets.serve(echo, "127.0.0.1", ws_port):
        print("ready", flush=True)
        async with server:
            await server.serve_forever()


asyncio.run(main())
