// One session shared by a running Flask app and the Rocket example, in one browser:
// log in on Flask, see the user on Rocket; Rocket's rewrite is read back by Flask;
// logging out on Rocket logs out of both. Usage: node flask.mjs ROCKET_URL FLASK_URL [label]
// (the label names the screenshots and the report: `flask`, or `flask-session` when the
// two share server-side sessions through Flask-Session on Redis).
import { launch, screenshots, shots } from "./chromium.mjs";
import assert from "node:assert/strict";

const [rocket, flask, label = "flask"] = process.argv.slice(2);

const browser = await launch();
const context = await browser.newContext();
const page = await context.newPage();
const shot = screenshots(page, label);
const text = () => page.locator("body").innerText();
const sessionCookies = async () => (await context.cookies()).filter((c) => c.name === "session");

const user = `grace${Date.now()}`;
try {
  // Log in on the Flask app: it redirects to the Rocket dashboard, which knows the user.
  await page.goto(`${flask}/legacy`);
  assert.match(await text(), /Legacy login \(Flask\)/);
  await page.locator('form[action="/legacy/login"] [name="username"]').fill(user);
  await Promise.all([page.waitForURL(`${rocket}/dashboard`), page.locator('form[action="/legacy/login"] button').click()]);
  assert.match(await text(), new RegExp(`Hello, ${user}`), "Rocket reads Flask's session");
  assert.match(await text(), /logged in by Flask/, "Flask's flash is shown by Rocket");
  assert.match(await text(), /1 time\(s\)/);
  assert.equal((await sessionCookies()).length, 1, "one session cookie for both apps");
  await shot("rocket-dashboard-after-flask-login");

  // Reload on Rocket: the flash is gone and the count moves, in Flask's format.
  await page.reload();
  assert.doesNotMatch(await text(), /logged in by Flask/);
  assert.match(await text(), /2 time\(s\)/);

  // Back on Flask: the cookie Rocket rewrote still holds the user.
  await page.goto(`${flask}/legacy`);
  assert.match(await text(), new RegExp(`Hello from Flask, ${user}`), "Flask reads Rocket's rewrite");
  await shot("flask-after-rocket");

  // Log out on Rocket: Flask sees nobody any more.
  await page.goto(`${rocket}/dashboard`);
  await Promise.all([page.waitForLoadState("load"), page.locator('form[action="/logout"] button').click()]);
  assert.match(await text(), /logged out/);
  await page.goto(`${flask}/legacy`);
  assert.match(await text(), /Legacy login \(Flask\)/, "logged out of Flask too");
  assert.doesNotMatch(await text(), new RegExp(user));
  await shot("flask-after-rocket-logout");
  console.log(`${label}: every step passed; screenshots in ${shots}`);
} catch (error) {
  await shot("failure").catch(() => {});
  console.error(`${label}: ${error.stack ?? error}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
