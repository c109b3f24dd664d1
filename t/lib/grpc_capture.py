#!/usr/bin/python3
"""A minimal HTTP/2 (gRPC-style) upstream for tests: answers every request
with 200 and, as the body, the request's header list as JSON (decoded with
Debian's python3-hpack), so a test sees exactly what nginx's grpc_pass
sent.  Prints its port on stdout once listening.

    grpc_capture.py
"""
import json
import signal
import socket
import struct
import sys

import hpack

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def frame(ftype, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) \
        + struct.pack(">I", stream) + payload


def read_exact(conn, n, buf):
    while len(buf) < n:
        chunk = conn.recv(65536)
        if not chunk:
            raise EOFError
        buf += chunk
    return buf


def serve(conn):
    buf = read_exact(conn, len(PREFACE), b"")
    if not buf.startswith(PREFACE):
        return
    buf = buf[len(PREFACE):]
    conn.sendall(frame(4, 0, 0))                      # our SETTINGS
    decoder, encoder = hpack.Decoder(), hpack.Encoder()
    block, stream = b"", 0
    while True:
        buf = read_exact(conn, 9, buf)
        length = struct.unpack(">I", b"\0" + buf[:3])[0]
        ftype, flags = buf[3], buf[4]
        sid = struct.unpack(">I", buf[5:9])[0] & 0x7fffffff
        buf = read_exact(conn, 9 + length, buf)
        payload, buf = buf[9:9 + length], buf[9 + length:]
        if ftype == 4 and not flags & 1:              # their SETTINGS
            conn.sendall(frame(4, 1, 0))
        elif ftype in (1, 9):                         # HEADERS, CONTINUATION
            if ftype == 1:
                stream = sid
                if flags & 0x8:                       # PADDED
                    pad = payload[0]
                    payload = payload[1:len(payload) - pad]
                if flags & 0x20:                      # PRIORITY
                    payload = payload[5:]
            block += payload
            if flags & 0x4:                           # END_HEADERS
                break
    headers = [[k, v] for k, v in decoder.decode(block, raw=False)]
    body = json.dumps(headers).encode()
    conn.sendall(frame(1, 0x4, stream, encoder.encode(
        [(":status", "200"), ("content-type", "application/json"),
         ("content-length", str(len(body)))]))
        + frame(0, 0x1, stream, body))
    # let nginx read it all before the close
    conn.settimeout(2)
    try:
        while conn.recv(65536):
            pass
    except (socket.timeout, OSError):
        pass


def main():
    # the test stops it with SIGTERM, even if its parent ignored that
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    print(srv.getsockname()[1], flush=True)
    while True:
        conn, _ = srv.accept()
        try:
            serve(conn)
        except (EOFError, OSError, hpack.HPACKError):
            pass
        finally:
            conn.close()


if __name__ == "__main__":
    sys.exit(main())
