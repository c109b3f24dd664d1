#!/usr/bin/python3
"""Verifies a session assertion the way a backend does, with PyJWT.

    verify_assertion.py JWKS_URL AUDIENCE [ISSUER] < token

Prints the verified claims as one JSON object, or "ERROR <reason>" and
exits 1.  Debian's python3-jwt (PyJWT 2.6) with python3-cryptography.
"""
import json
import sys

import jwt


def main():
    url, audience = sys.argv[1], sys.argv[2]
    issuer = sys.argv[3] if len(sys.argv) > 3 else None
    token = sys.stdin.read().strip()
    try:
        key = jwt.PyJWKClient(url, cache_keys=False).get_signing_key_from_jwt(token)
        claims = jwt.decode(token, key.key, algorithms=["EdDSA"],
                            audience=audience, issuer=issuer, leeway=5,
                            options={"require": ["exp", "iat", "sub", "aud"]})
    except Exception as e:  # noqa: BLE001 (the test prints the reason)
        print("ERROR %s: %s" % (type(e).__name__, e))
        return 1
    header = jwt.get_unverified_header(token)
    print(json.dumps({"header": header, "claims": claims}, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
