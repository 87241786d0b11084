"""A real Flask app for the interop tests (tests/tests/flask.rs).

It serves on a free loopback port, prints that port on its first line, and exits
when its standard input closes (the test process ended), so that it never outlives
the tests. `/old/...` is the same app signed with the key the tests rotate away from.
"""

import datetime
import os
import sys
import threading
import uuid

from flask import Flask, flash, get_flashed_messages, jsonify, session
from markupsafe import Markup
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.serving import make_server

SECRET = "flask-secret"
OLD_SECRET = "flask-old-secret"


def describe(value):
    """A value's Python type and a JSON form of it, for the tests to check."""
    kind = type(value).__name__
    if isinstance(value, (tuple, list)):
        return [kind, [describe(v) for v in value]]
    if isinstance(value, bytes):
        return [kind, list(value)]
    if isinstance(value, dict):
        return [kind, {k: describe(v) for k, v in value.items()}]
    if isinstance(value, (bool, int, float, str)) and kind in ("bool", "int", "float", "str"):
        return [kind, value]
    return [kind, str(value)]


def add_shared_routes(app):
    """Routes both test apps have: `/flash/<category>/<message>` flashes, `/flashes`
    reads them with their categories, `/read` describes every key of the session."""

    @app.get("/read")
    def read():
        return jsonify(
            keys={k: describe(v) for k, v in session.items()},
            permanent=session.permanent,
        )

    @app.get("/flash/<category>/<message>")
    def flash_message(category, message):
        flash(message, category)
        return "ok"

    @app.get("/flashes")
    def flashes():
        return jsonify(get_flashed_messages(with_categories=True))


def make_app(secret):
    app = Flask(__name__)
    app.secret_key = secret

    @app.get("/login/<name>")
    def login(name):
        session["user"] = name
        session["uid"] = 7
        return "ok"

    @app.get("/legacy/<value>")
    def legacy(value):
        session["legacy"] = value
        return "ok"

    @app.get("/typed")
    def typed():
        session["pair"] = (1, "a")
        session["raw"] = b"\x00\x01\xff"
        session["html"] = Markup("<b>x</b>")
        session["id"] = uuid.UUID("12345678123456781234567812345678")
        session["when"] = datetime.datetime(2023, 11, 14, 22, 13, 20, tzinfo=datetime.timezone.utc)
        session["escaped"] = {" t": [1]}
        return "ok"

    @app.get("/big/<int:n>")
    def big(n):
        session["notes"] = "abc" * n
        return "ok"

    add_shared_routes(app)

    @app.get("/permanent/<on>")
    def permanent(on):
        session.permanent = on == "true"
        return "ok"

    return app


def serve(root, on_exit=lambda: None):
    """Serves `root` on a free loopback port, printed on the first line; when standard
    input closes (the test process ended), calls `on_exit` and exits."""
    server = make_server("127.0.0.1", 0, root, threaded=True)
    print(server.socket.getsockname()[1], flush=True)

    def exit_with_parent():
        sys.stdin.read()
        on_exit()
        os._exit(0)

    threading.Thread(target=exit_with_parent, daemon=True).start()
    server.serve_forever()


def main():
    root = make_app(SECRET)
    root.wsgi_app = DispatcherMiddleware(root.wsgi_app, {"/old": make_app(OLD_SECRET)})
    serve(root)


if __name__ == "__main__":
    main()
