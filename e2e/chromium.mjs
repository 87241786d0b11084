// What the browser scripts share: Debian's Chromium, headless (never a downloaded
// browser), and a numbered screenshot of each step under `$SHOTS` (default
// ../target/e2e).
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";

export const shots = process.env.SHOTS ?? new URL("../target/e2e/", import.meta.url).pathname;
mkdirSync(shots, { recursive: true });

export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--no-first-run",
    ],
  });
}

// A function that saves a screenshot of `page` as `<label>-NN-<name>.png`, NN
// counting the steps.
export function screenshots(page, label) {
  let step = 0;
  return async (name) => {
    step += 1;
    const path = `${shots}/${label}-${String(step).padStart(2, "0")}-${name}.png`;
    await page.screenshot({ path });
  };
}
