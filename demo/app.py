#!/usr/bin/python3
"""The demo's "bot admin": a Flask app that is both the login page of the
whole stack and the admin cabinet of a Telegram bot.

It keeps no session and signs nothing: there is no SECRET_KEY, no
flask.session, no Flask-Session. Logging in means checking a password and
telling nginx who it was, with response headers (the login hand-off,
docs/login-handoff.md); nginx mints the session, sets the cookie, and on
every later request hands the identity over: X-User-Id for display, and
X-Session-Assertion, a short-lived Ed25519-signed JWT (session_assertion,
docs/assertion.md).

The app does not trust X-User-Id alone: anyone who reaches it some other
way than through nginx (a published port, a second proxy, a debug tunnel)
could send any X-User-Id. The identity is the assertion's, verified with
PyJWT against the public keys nginx publishes (session_jwks), for this
service's audience only. No assertion, or one that does not verify: no
identity.

Run by scripts/demo with Debian's python3-flask and python3-jwt:
    /usr/bin/python3 demo/app.py --port 50010 \
        --jwks http://127.0.0.1:50003/.well-known/jwks.json
"""

import argparse

import jwt
from flask import Flask, abort, g, jsonify, redirect, render_template, request
from werkzeug.security import check_password_hash

# The demo's user list. Real code asks its user table; the point is that
# only password hashes live here, never a session or a signing key.
USERS = {
    # demo / demo-password
    "demo": {
        "password": "pbkdf2:sha256:260000$IOI1kTAk4vM64Vqp$"
                    "8fbacb8e4fbdb4121f37b7e13e44645cd1997bfc210f0047c68d94de613cd549",
        "role": "admin",
    },
    # viewer / viewer-password: may read the docs and the report, not the cabinet
    "viewer": {
        "password": "pbkdf2:sha256:260000$E0paLuVjoDrwBhTL$"
                    "75ac7a3a0f942ddd273887b7712fecdcd38d9e0ad45060220bbf8e5a16cc727f",
        "role": "viewer",
    },
}

# Checked for unknown user names, so they cost as much time as known ones.
_NO_USER_HASH = USERS["viewer"]["password"]

# Made-up bot data for the cabinet.
SUBSCRIBERS = [
    ("@anna_k", "ru", "2024-03-02", 41),
    ("@bohdan", "uk", "2024-03-11", 7),
    ("@carla.dev", "en", "2024-04-19", 128),
    ("@dmitry_ops", "ru", "2024-05-01", 3),
    ("@eva_tests", "en", "2024-05-23", 19),
]

app = Flask(__name__)   # deliberately no app.secret_key

# Set from the command line: where nginx publishes its keys, and who this
# service is (session_assertion audience=bot-admin in nginx.conf).
ASSERTION = {"jwks": None, "audience": "bot-admin", "issuer": "demo-edge"}
_jwks_client = None


def verified_claims():
    """The claims of the request's X-Session-Assertion, verified: signed
    by a key of nginx's JWKS (PyJWKClient fetches it again for a key id it
    does not know, so a key rotation needs nothing here), for our audience,
    from our issuer, not expired (30 s of clock skew allowed). None if there
    is no assertion or it does not verify."""
    global _jwks_client
    if "claims" in g:
        return g.claims
    g.claims = None
    token = request.headers.get("X-Session-Assertion")
    if not token:
        if request.headers.get("X-User-Id"):
            app.logger.warning("X-User-Id without an assertion: refused")
        return None
    try:
        if _jwks_client is None:
            _jwks_client = jwt.PyJWKClient(ASSERTION["jwks"], lifespan=300)
        key = _jwks_client.get_signing_key_from_jwt(token)
        g.claims = jwt.decode(token, key.key, algorithms=["EdDSA"],
                              audience=ASSERTION["audience"],
                              issuer=ASSERTION["issuer"], leeway=30,
                              options={"require": ["exp", "iat", "sub", "aud"]})
    except (jwt.PyJWTError, jwt.PyJWKClientError) as e:
        app.logger.warning("assertion refused: %s: %s", type(e).__name__, e)
    return g.claims


def current_user():
    """The identity nginx established, from the verified assertion only.
    None: no session (or a request that did not come through nginx)."""
    claims = verified_claims()
    return claims["sub"] if claims else None


def current_role():
    claims = verified_claims()
    return (claims or {}).get("role", "")


def safe_next(value):
    """Only local paths: no //host, no /\\host, no control characters
    (browsers drop tabs and newlines, which turns "/\\t/evil" into
    "//evil")."""
    if (not value or not value.startswith("/") or value.startswith("//")
            or "\\" in value or any(ord(ch) < 0x20 or ord(ch) == 0x7f for ch in value)):
        return "/"
    return value


@app.after_request
def no_store(resp):
    resp.headers.setdefault("Cache-Control", "no-store")
    return resp


@app.get("/login")
def login_form():
    return render_template("login.html", next=safe_next(request.args.get("next")),
                           user=current_user(), bye="bye" in request.args)


@app.post("/login")
def login():
    name = request.form.get("user", "").strip()
    password = request.form.get("password", "")
    nxt = safe_next(request.form.get("next"))
    user = USERS.get(name)
    good = check_password_hash(user["password"] if user else _NO_USER_HASH, password)
    if user is None or not good:
        app.logger.info("login failed for %r", name)
        return render_template("login.html", next=nxt, user=current_user(),
                               error="Wrong user name or password.",
                               name=name), 401

    app.logger.info("login: %s (role %s)", name, user["role"])
    resp = redirect(nxt, code=303)
    # The hand-off: nginx creates the session, sets the cookie and removes
    # these two headers before the browser sees the response.
    resp.headers["X-Session-Subject"] = name
    resp.headers["X-Session-Claims"] = f"role={user['role']}"
    return resp


@app.get("/")
def cabinet():
    user = current_user()
    if user is None:
        # Only possible if nginx is misconfigured: it never forwards an
        # unauthenticated request here.
        abort(401)
    return render_template("cabinet.html", user=user, role=current_role(),
                           subscribers=SUBSCRIBERS)


@app.get("/sessions")
def sessions():
    """"Your sessions": the page only. The list comes from nginx
    (session_list at /account/sessions.json) and each "sign out" posts the
    session's id to nginx (session_revoke): the app keeps no session
    table."""
    user = current_user()
    if user is None:
        abort(401)
    return render_template("sessions.html", user=user, role=current_role())


@app.get("/api/whoami")
def whoami():
    user = current_user()
    if user is None:
        abort(401)
    return jsonify(user=user, role=current_role(), service="bot-admin")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=50010)
    ap.add_argument("--jwks", required=True,
                    help="nginx's session_jwks URL")
    ap.add_argument("--audience", default=ASSERTION["audience"])
    ap.add_argument("--issuer", default=ASSERTION["issuer"])
    args = ap.parse_args()
    ASSERTION.update(jwks=args.jwks, audience=args.audience,
                     issuer=args.issuer)
    app.run(host="127.0.0.1", port=args.port, threaded=True)
