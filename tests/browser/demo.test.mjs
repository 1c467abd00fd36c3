// The demo page (GET /) in headless Chromium: two pages chat in a room,
// see each other's messages and presence, a private message arrives, and a
// page that loses its connection gets what it missed after reconnecting.
// Run by .ci/run (Debian's chromium, playwright-core from npm).
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

const bin = process.env.ROOMCAST_BIN || new URL("../../target/release/roomcast", import.meta.url).pathname;

async function startServer() {
  const child = spawn(bin, ["--listen", "127.0.0.1:0"], { env: { ...process.env, RUST_LOG: "info" }, stdio: ["ignore", "ignore", "pipe"] });
  const lines = createInterface({ input: child.stderr });
  const addr = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("roomcast did not start")), 10000);
    lines.on("line", (line) => {
      const m = line.match(/listening on (\S+)/);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
    child.on("exit", (code) => reject(new Error(`roomcast exited with ${code}`)));
  });
  return { child, addr };
}

const server = await startServer();
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
after(async () => { await browser.close(); server.child.kill(); });

const chatLine = (page, text) => page.locator("#log li.chat", { hasText: text }).waitFor({ timeout: 10000 });

test("two pages chat in a room", async () => {
  const alice = await browser.newPage();
  const bob = await browser.newPage();
  await alice.goto(`http://${server.addr}/?user=alice&room=lobby`);
  await bob.goto(`http://${server.addr}/?user=bob&room=lobby`);
  await alice.locator("#online", { hasText: "2" }).waitFor({ timeout: 10000 });
  await alice.locator("#users li", { hasText: "bob" }).waitFor({ timeout: 10000 });

  await alice.fill("#text", "hello from alice");
  await alice.press("#text", "Enter");
  await chatLine(bob, "alice: hello from alice");
  await chatLine(alice, "alice: hello from alice");

  await bob.fill("#text", "hi alice");
  await bob.click("#send");
  await chatLine(alice, "bob: hi alice");

  await alice.fill("#to", "bob");
  await alice.fill("#text", "just for you");
  await alice.press("#text", "Enter");
  await bob.locator("#log li.private", { hasText: "just for you" }).waitFor({ timeout: 10000 });
  await alice.fill("#to", "");

  // Bob's connection drops; alice keeps talking; bob reconnects with
  // since=<last seq> and gets what he missed, once.
  await bob.evaluate(() => { wanted = true; ws.close(); });
  await bob.locator("#status", { hasText: "offline" }).waitFor({ timeout: 10000 });
  await alice.fill("#text", "said while bob was away");
  await alice.press("#text", "Enter");
  await chatLine(bob, "alice: said while bob was away");
  const copies = await bob.locator("#log li.chat", { hasText: "hello from alice" }).count();
  assert.equal(copies, 1, "a replayed message is shown once");
});
