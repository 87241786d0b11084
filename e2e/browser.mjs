// Walks the example app as a person does, in Debian's Chromium (headless), and checks
// the page text and the browser's own cookie jar at each step. Screenshots go to
// `$SHOTS` (default ../target/e2e). Usage: node browser.mjs http://localhost:PORT label
import { launch, screenshots, shots } from "./chromium.mjs";
import assert from "node:assert/strict";

const [base, label = "app"] = process.argv.slice(2);

const browser = await launch();
const context = await browser.newContext();
const page = await context.newPage();

const shot = screenshots(page, label);
async function text() {
  return page.locator("body").innerText();
}
async function sessionCookie() {
  return (await context.cookies()).find((c) => c.name === "session");
}
async function submit(form, fields) {
  for (const [name, value] of Object.entries(fields)) {
    const input = page.locator(`form[action="${form}"] [name="${name}"]`);
    if (value === true) await input.check();
    else await input.fill(value);
  }
  await Promise.all([page.waitForLoadState("load"), page.locator(`form[action="${form}"] button`).click()]);
}

const user = `ada${Date.now()}`;
try {
  // Register, a too-short password first: a `danger` flash.
  await page.goto(`${base}/register`);
  await submit("/register", { username: user, password: "abc" });
  assert.match(await text(), /Passwords have at least 6 characters/);
  assert.equal(await page.locator(".flash-danger").count(), 1, "the mistake is a danger flash");
  await shot("register-too-short");
  await submit("/register", { username: user, password: "lovelace" });
  assert.match(await text(), new RegExp(`Registered ${user}`));
  await shot("registered");

  // Log in with a wrong password, then the right one, without "remember me".
  await submit("/login", { username: user, password: "wrong" });
  assert.match(await text(), /Wrong password/);
  await shot("wrong-password");
  await submit("/login", { username: user, password: "lovelace" });
  assert.match(await text(), new RegExp(`Hello, ${user}`));
  assert.match(await text(), /Welcome back/);
  assert.match(await text(), /1 time\(s\)/);
  let cookie = await sessionCookie();
  assert.ok(cookie, "a session cookie");
  assert.equal(cookie.httpOnly, true);
  assert.equal(cookie.secure, true);
  assert.equal(cookie.sameSite, "Lax");
  assert.equal(cookie.expires, -1, "a browser-session cookie without remember-me");
  await shot("dashboard");

  // Reload: the flash is gone, the visit count moves.
  await page.reload();
  assert.doesNotMatch(await text(), /Welcome back/);
  assert.match(await text(), /2 time\(s\)/);
  await shot("reloaded");

  // Log out: no session cookie with the user any more, the dashboard sends us away.
  await Promise.all([page.waitForLoadState("load"), page.locator('form[action="/logout"] button').click()]);
  assert.match(await text(), /logged out/);
  await shot("logged-out");
  await page.goto(`${base}/dashboard`);
  assert.match(await text(), /Please log in/);
  assert.doesNotMatch(await text(), new RegExp(`Hello, ${user}`));
  await shot("dashboard-after-logout");

  // On a server-side store, "your devices": sign in from a second browser, list both
  // from the first, sign the second out with its button.
  if (label !== "cookie") {
    await page.goto(`${base}/login`);
    await submit("/login", { username: user, password: "lovelace" });
    const phoneContext = await browser.newContext();
    const phone = await phoneContext.newPage();
    await phone.goto(`${base}/login`);
    await phone.locator('form[action="/login"] [name="username"]').fill(user);
    await phone.locator('form[action="/login"] [name="password"]').fill("lovelace");
    await Promise.all([phone.waitForLoadState("load"), phone.locator('form[action="/login"] button').click()]);
    assert.match(await phone.locator("body").innerText(), new RegExp(`Hello, ${user}`));

    await Promise.all([page.waitForLoadState("load"), page.getByRole("link", { name: "Your devices" }).click()]);
    assert.equal(await page.locator("li.device").count(), 2, "both browsers listed");
    assert.equal(await page.locator("li.device", { hasText: "(this device)" }).count(), 1);
    await shot("devices");
    await Promise.all([page.waitForLoadState("load"), page.locator('form[action="/devices/end"] button').click()]);
    assert.match(await text(), /Signed out that device/);
    assert.equal(await page.locator("li.device").count(), 1, "only this browser left");
    await shot("device-signed-out");
    await phone.reload();
    assert.match(await phone.locator("body").innerText(), /Please log in/, "the other browser is signed out");
    await phoneContext.close();
    await Promise.all([page.waitForLoadState("load"), page.locator('form[action="/logout"] button').click()]);
  }

  // Log in with "remember me": the cookie now has an expiry, about max_age away.
  await page.goto(`${base}/login`);
  await submit("/login", { username: user, password: "lovelace", remember: true });
  assert.match(await text(), /remembered for/);
  cookie = await sessionCookie();
  const days = (cookie.expires - Date.now() / 1000) / 86400;
  assert.ok(days > 29 && days < 32, `expires in ${days} days`);
  await shot("remembered");
  await Promise.all([page.waitForLoadState("load"), page.locator('form[action="/logout"] button').click()]);
  const after = await sessionCookie();
  assert.ok(!after || after.expires === -1, "no remembered session cookie after logout");
  console.log(`${label}: every step passed; screenshots in ${shots}`);
} catch (error) {
  await shot("failure").catch(() => {});
  console.error(`${label}: ${error.stack ?? error}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
