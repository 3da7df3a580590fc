// Opens Eddy's dashboard in headless Chromium, waits until the page follows the change feed,
// writes a key through redis-cli, and waits for the change to appear in the live table.
// Usage: node dashboard.mjs <http-url> <resp-port>. Prints "OK <offset>" and exits 0 on success.
import { chromium } from "playwright-core";
import { execFileSync } from "node:child_process";

const [url, port] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
});
try {
  const page = await browser.newPage();
  page.on("pageerror", (e) => console.error("page error:", e.message));
  await page.goto(url);
  await page.waitForFunction(() => document.querySelector("#status")?.textContent === "live");
  await page.waitForFunction(() => /following from offset/.test(document.querySelector("#feed-note")?.textContent));
  const key = `dash:${Date.now()}`;
  execFileSync("redis-cli", ["-p", port, "SET", key, "from redis-cli"]);
  const row = await page.waitForSelector(`#changes tr[data-key="${key}"]`, { timeout: 10000 });
  const cells = await row.$$eval("td", (tds) => tds.map((td) => td.textContent));
  if (cells[3] !== "set" || !cells[6].includes("from redis-cli")) {
    throw new Error(`unexpected row: ${JSON.stringify(cells)}`);
  }
  // The console runs a command over the same WebSocket.
  await page.fill("#console-in", `GET ${key}`);
  await page.press("#console-in", "Enter");
  await page.waitForFunction(() => /"from redis-cli"/.test(document.querySelector("#console-out").textContent));
  console.log(`OK ${await row.getAttribute("data-offset")}`);
} finally {
  await browser.close();
}
