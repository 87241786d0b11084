"""A real Flask app on Flask-Session (Redis) for the interop tests
(tests/tests/flask_session.rs).

Configured from the environment: `REDIS_URL`, `MEMCACHED_URL`, `POSTGRES_URL`,
`MYSQL_URL`, `SQLITE_PATH`, `TABLE` (Flask-Session's `SESSION_SQLALCHEMY_TABLE`) and
`PREFIX` (its `SESSION_KEY_PREFIX`). `/signed/...` is the same app with
`SESSION_USE_SIGNER`, `/memcached/...` the same app on Memcached, `/postgres/...`,
`/mysql/...` and `/sqlite/...` on Flask-SQLAlchemy. It serves as the Flask interop
app does (`tests/flask/app.py`, whose shared routes and `serve` it uses), and at exit
drops its tables and removes the SQLite file.
"""

import datetime
import os
import pathlib
import sys
import warnings

import redis
from pymemcache.client.base import PooledClient as Memcache
from flask import Flask, session
from flask_session import Session
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import text
from werkzeug.middleware.dispatcher import DispatcherMiddleware

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "flask"))
from app import add_shared_routes, serve  # noqa: E402  (tests/flask/app.py)

SECRET = "flask-session-secret"
warnings.simplefilter("ignore", DeprecationWarning)

DATABASES = {
    "postgres": lambda: "postgresql+psycopg2://" + os.environ["POSTGRES_URL"].split("://", 1)[1],
    "mysql": lambda: "mysql+pymysql://" + os.environ["MYSQL_URL"].split("://", 1)[1],
    "sqlite": lambda: "sqlite:///" + os.environ["SQLITE_PATH"],
}
DATABASE_CLIENTS = []


def make_app(signer=False, memcached=False, database=None):
    app = Flask(__name__)
    app.secret_key = SECRET
    app.config.update(SESSION_KEY_PREFIX=os.environ["PREFIX"], SESSION_USE_SIGNER=signer)
    if database:
        app.config["SQLALCHEMY_DATABASE_URI"] = DATABASES[database]()
        db = SQLAlchemy(app)
        DATABASE_CLIENTS.append((app, db))
        app.config.update(
            SESSION_TYPE="sqlalchemy",
            SESSION_SQLALCHEMY=db,
            SESSION_SQLALCHEMY_TABLE=os.environ["TABLE"],
        )
    elif memcached:
        host, port = os.environ["MEMCACHED_URL"].removeprefix("memcache://").split(":")
        # Wait for each write's answer: pymemcache's default (`noreply`) lets a request's
        # write land after the next request's read, on another pooled connection.
        client = Memcache((host, int(port)), default_noreply=False)
        app.config.update(SESSION_TYPE="memcached", SESSION_MEMCACHED=client)
    else:
        app.config.update(
            SESSION_TYPE="redis", SESSION_REDIS=redis.Redis.from_url(os.environ["REDIS_URL"])
        )
    Session(app)

    @app.get("/login/<name>")
    def login(name):
        session["user"] = name
        session["uid"] = 7
        return "ok"

    @app.get("/typed")
    def typed():
        session["raw"] = b"\x00\x01\xff"
        session["when"] = datetime.datetime(2023, 11, 14, 22, 13, 20, tzinfo=datetime.timezone.utc)
        session["ratio"] = 0.1
        session["big"] = 2**64 - 1
        session["nested"] = {"a": [1, {"b": None}], "t": (1, "x")}
        return "ok"

    add_shared_routes(app)

    return app


def main():
    root = make_app()
    mounts = {"/signed": make_app(signer=True), "/memcached": make_app(memcached=True)}
    for database in DATABASES:
        mounts[f"/{database}"] = make_app(database=database)
    root.wsgi_app = DispatcherMiddleware(root.wsgi_app, mounts)
    serve(root, on_exit=drop_tables)


def drop_tables():
    """Drops the SQL tables and removes the SQLite file the tests used."""
    for app, db in DATABASE_CLIENTS:
        with app.app_context():
            db.session.execute(text(f"DROP TABLE IF EXISTS {os.environ['TABLE']}"))
            db.session.commit()
    for suffix in ("", "-wal", "-shm", "-journal"):
        try:
            os.remove(os.environ["SQLITE_PATH"] + suffix)
        except FileNotFoundError:
            pass


if __name__ == "__main__":
    main()
