"""The Flask half of a gradual migration: this app owns `/legacy`, the Rocket example
owns the rest, and both share one session cookie on localhost.

    pip install -r examples/flask/requirements.txt
    flask --app examples/flask/app.py run --port 5000
    ROCKET_KEEPSAKE_FLASK_SECRET_KEY=dev-only-shared-secret cargo run -p keepsake-examples

Log in on http://localhost:8000/login (Rocket) and open http://localhost:5000/legacy:
the user and the welcome flash are here. Or log in here and open the Rocket dashboard.
Cookies are not port-specific, so the two apps on one host share the `session` cookie.
"""

import os

from flask import Flask, flash, get_flashed_messages, redirect, render_template_string, request, session

app = Flask(__name__)
# The same string the Rocket app has as `keepsake.flask_secret_key`.
app.secret_key = os.environ.get("FLASK_SECRET_KEY", "dev-only-shared-secret")

ROCKET = os.environ.get("ROCKET_URL", "http://localhost:8000")

PAGE = """<!doctype html>
<title>Legacy (Flask)</title>
{% for category, message in flashes %}
  <div class="flash flash-{{ category }}" role="status">{{ message }}</div>
{% endfor %}
{% if user %}
  <h1>Hello from Flask, {{ user }}</h1>
  <p><a href="{{ rocket }}/dashboard">Your dashboard (Rocket)</a></p>
  <form action="/legacy/logout" method="post"><button>Log out (Flask)</button></form>
{% else %}
  <h1>Legacy login (Flask)</h1>
  <form action="/legacy/login" method="post">
    <label>Username <input name="username"></label>
    <label><input name="remember" type="checkbox"> Remember me</label>
    <button>Log in</button>
  </form>
  <p>Users and passwords live in the Rocket app; this demo login only sets the name.</p>
{% endif %}
"""


@app.get("/legacy")
def legacy():
    return render_template_string(
        PAGE,
        user=session.get("user"),
        flashes=get_flashed_messages(with_categories=True),
        rocket=ROCKET,
    )


@app.post("/legacy/login")
def login():
    name = request.form.get("username", "").strip()[:64]
    if not name:
        flash("Please enter a username.", "danger")
        return redirect("/legacy")
    session["user"] = name
    session["visits"] = 0
    session.permanent = bool(request.form.get("remember"))
    flash(f"Welcome back, {name}! (logged in by Flask)", "success")
    return redirect(f"{ROCKET}/dashboard")


@app.post("/legacy/logout")
def logout():
    session.clear()
    flash("You have been logged out.", "info")
    return redirect(f"{ROCKET}/login")
