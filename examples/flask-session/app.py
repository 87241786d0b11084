"""The Flask half of a gradual migration, with sessions server-side: the Flask example
(`examples/flask/app.py`, owning `/legacy`) on Flask-Session with Redis, sharing its
sessions with the Rocket example started with `flask_session = true` on the same Redis.

    pip install -r examples/flask-session/requirements.txt
    flask --app examples/flask-session/app.py run --port 5000
    ROCKET_KEEPSAKE_FLASK_SESSION=true ROCKET_KEEPSAKE_STORE=redis://127.0.0.1:6379 \\
        cargo run -p keepsake-examples

Log in on http://localhost:8000/login (Rocket) and open http://localhost:5000/legacy:
the user and the welcome flash are here, read from the record in Redis (msgpack, under
`session:<id>`). Or log in here and open the Rocket dashboard.
"""

import importlib.util
import os
import pathlib

import redis
from flask_session import Session

# The Flask example's routes and templates, as they are.
_spec = importlib.util.spec_from_file_location(
    "flask_example", pathlib.Path(__file__).parent.parent / "flask" / "app.py"
)
_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_module)
app = _module.app

# Flask-Session on Redis: `SESSION_KEY_PREFIX` is Rocket's `flask_session_prefix`.
app.config.update(
    SESSION_TYPE="redis",
    SESSION_REDIS=redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379")),
    SESSION_KEY_PREFIX=os.environ.get("SESSION_KEY_PREFIX", "session:"),
)
Session(app)
