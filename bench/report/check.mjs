// Opens the report from disk with the network blocked; any console error, uncaught page error
// or failed request fails the check. Prints what it found and writes a full-page screenshot.
import { chromium } from "playwright-core";

const [report, screenshot] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const page = await browser.newPage({ viewport: { width: 1300, height: 900 } });
const problems = [];
page.on("console", (m) => { if (m.type() === "error") problems.push(`console error: ${m.text()}`); });
page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
page.on("requestfailed", (r) => problems.push(`failed request: ${r.url()} (${r.failure()?.errorText})`));
// Anything but local files is a network access the report must not need.
await page.route("**/*", (route) =>
  route.request().url().startsWith("file://") ? route.continue() : route.abort());
await page.goto("file://" + report, { waitUntil: "load" });
const images = await page.$$eval("img", (imgs) =>
  imgs.map((i) => ({ src: i.getAttribute("src"), ok: i.complete && i.naturalWidth > 0 })));
for (const i of images) if (!i.ok) problems.push(`image did not load: ${i.src}`);
const svgs = await page.$$eval("svg", (s) => s.length);
const rows = await page.$$eval("table tr", (r) => r.length);
await page.screenshot({ path: screenshot, fullPage: true });
await browser.close();
console.log(`${report}: ${rows} table rows, ${svgs} inline SVG plots, ${images.length} images; screenshot ${screenshot}`);
if (problems.length) {
  for (const p of problems) console.error(p);
  process.exit(1);
}
console.log("no console errors, page errors or failed requests");
