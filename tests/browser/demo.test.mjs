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

async function startServer(args = []) {
  const child = spawn(bin, ["--listen", "127.0.0.1:0", ...args], { env: { ...process.env, RUST_LOG: "info" }, stdio: ["ignore", "ignore", "pipe"] });
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

// The browser first: if it cannot start, no server is left running.
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const server = await startServer(["--api-insecure", "true"]);
const SECRET = "browser-test-secret";
const hmacServer = await startServer(["--auth", "hmac", "--auth-secret", SECRET]);
after(async () => { await browser.close(); server.child.kill(); hmacServer.child.kill(); });

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
  // The sender sees its own private message too, once acknowledged.
  await alice.locator("#log li.private", { hasText: "me → bob" }).waitFor({ timeout: 10000 });
  await alice.fill("#to", "");
  // Comments fly across the danmaku stage.
  await bob.locator("#stage .dm", { hasText: "hello from alice" }).first().waitFor({ state: "attached", timeout: 10000 });

  // Bob's connection drops; alice keeps talking; bob reconnects with
  // since=<last seq> and gets what he missed, once.
  await bob.evaluate(() => window.demo.drop());
  await bob.locator("#status", { hasText: "offline" }).waitFor({ timeout: 10000 });
  await alice.fill("#text", "said while bob was away");
  await alice.press("#text", "Enter");
  await chatLine(bob, "alice: said while bob was away");
  const copies = await bob.locator("#log li.chat", { hasText: "hello from alice" }).count();
  assert.equal(copies, 1, "a replayed message is shown once");
});

test("join twice keeps one connection, and a fresh page connects at once", async () => {
  const page = await browser.newPage();
  // No ?user=: the page connects by itself with a generated name.
  await page.goto(`http://${server.addr}/`);
  await page.locator("#status", { hasText: "in lobby" }).waitFor({ timeout: 10000 });
  await page.fill("#user", "carol");
  await page.click("#connect");
  await page.locator("#status", { hasText: "in lobby" }).waitFor({ timeout: 10000 });
  await page.click("#connect");
  await page.locator("#status", { hasText: "in lobby" }).waitFor({ timeout: 10000 });
  // Give a leaked reconnect time to happen, then count on the server.
  await new Promise((r) => setTimeout(r, 1500));
  const res = await fetch(`http://${server.addr}/api/users/carol`);
  const user = await res.json();
  assert.equal(user.connections, 1, JSON.stringify(user));
});

test("with auth = hmac the page passes ?token= on", async () => {
  const { createHmac } = await import("node:crypto");
  const b64 = (x) => Buffer.from(x).toString("base64url");
  const body = b64(JSON.stringify({ alg: "HS256", typ: "JWT" })) + "." + b64(JSON.stringify({ sub: "tina" }));
  const jwt = body + "." + createHmac("sha256", SECRET).update(body).digest("base64url");
  const page = await browser.newPage();
  await page.goto(`http://${hmacServer.addr}/?token=${jwt}`);
  await page.locator("#status", { hasText: "in lobby" }).waitFor({ timeout: 10000 });
  assert.equal(await page.inputValue("#user"), "tina");
});

test("the JS client reconnects and recovers what it missed, once each", async () => {
  const page = await browser.newPage();
  await page.goto(`http://${server.addr}/?user=demo-owner&room=elsewhere`);
  const publish = (data) => fetch(`http://${server.addr}/api/publish`, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ room: "jsroom", data }),
  });
  await page.evaluate(async (url) => {
    const { RoomcastClient } = await import("/roomcast.js");
    window.seen = [];
    window.joins = [];
    const rc = new RoomcastClient(url, { user: "jsclient", minBackoff: 50, maxBackoff: 200 });
    rc.addEventListener("chat", (e) => window.seen.push(e.detail.seq));
    rc.addEventListener("joined", (e) => window.joins.push(e.detail.recovered));
    rc.addEventListener("welcome", () => { if (!rc.rooms.has("jsroom")) rc.join("jsroom"); });
    window.rc = rc;
    rc.connect();
  }, `ws://${server.addr}/ws`);
  await page.waitForFunction(() => window.joins.length === 1, null, { timeout: 10000 });
  for (const n of [1, 2, 3]) await publish(n);
  await page.waitForFunction(() => window.seen.length === 3, null, { timeout: 10000 });
  // The connection drops; two messages are sent while it is away.
  await page.evaluate(() => window.rc.ws.close());
  for (const n of [4, 5]) await publish(n);
  await page.waitForFunction(() => window.joins.length === 2 && window.seen.length >= 5, null, { timeout: 10000 });
  await new Promise((r) => setTimeout(r, 300));
  const { seen, joins } = await page.evaluate(() => ({ seen: window.seen, joins: window.joins }));
  assert.deepEqual(seen, [1, 2, 3, 4, 5], "each message once, in order");
  assert.deepEqual(joins, [false, true], "the rejoin recovered everything");
});

test("the admin page asks for the key, charts update and an action works", async () => {
  const KEY = "admin-test-key";
  const keyed = await startServer(["--api-key", KEY]);
  try {
    const viewer = await browser.newPage();
    await viewer.goto(`http://${keyed.addr}/?user=viewer&room=stage`);
    await viewer.locator("#status", { hasText: "in stage" }).waitFor({ timeout: 10000 });
    const admin = await browser.newPage();
    await admin.goto(`http://${keyed.addr}/admin`);
    // Without the key the API answers 401: the page asks for it.
    await admin.locator("#key-dialog").waitFor({ state: "visible", timeout: 10000 });
    await admin.fill("#f-key input[name=key]", KEY);
    await admin.click("#f-key button");
    await admin.locator("#status", { hasText: "live" }).waitFor({ timeout: 10000 });
    // Two samples make a line: the connections chart has a path with points.
    await admin.waitForFunction(() => {
      const d = document.querySelector("#c-conns path")?.getAttribute("d") || "";
      return d.split("L").length >= 2;
    }, null, { timeout: 10000 });
    await admin.locator("#rooms tr", { hasText: "stage" }).waitFor({ timeout: 10000 });
    await admin.locator("#budgets tr", { hasText: "rooms" }).waitFor({ timeout: 10000 });
    // Publish a gift to the room: the viewer gets it.
    await admin.fill("#f-publish input[name=name]", "stage");
    await admin.fill("#f-publish input[name=type]", "gift");
    await admin.fill("#f-publish input[name=data]", '{"rose":1}');
    await admin.click("#f-publish button");
    await admin.locator("#result", { hasText: "delivered" }).waitFor({ timeout: 10000 });
    await viewer.locator("#log li", { hasText: "gift:" }).waitFor({ timeout: 10000 });
    // The room view lists the gift with a retract button; retracting tells the viewer.
    await admin.locator("#rooms tr", { hasText: "stage" }).click();
    await admin.locator("#rv-history tr", { hasText: "rose" }).waitFor({ timeout: 10000 });
    await admin.locator("#rv-history tr", { hasText: "rose" }).locator("button").click();
    await viewer.locator("#log li", { hasText: "was retracted" }).waitFor({ timeout: 10000 });
    // The room view follows the room live through the JS client.
    await admin.locator("#rv-live-status", { hasText: "following stage" }).waitFor({ timeout: 10000 });
    await viewer.fill("#text", "live check");
    await viewer.press("#text", "Enter");
    await admin.locator("#rv-live li", { hasText: "live check" }).waitFor({ timeout: 10000 });
  } finally {
    keyed.child.kill();
  }
});

test("Chromium negotiates permessage-deflate and reads compressed batches", async () => {
  const hot = await startServer(["--api-insecure", "true", "--compression", "true", "--batch-window-ms", "100"]);
  try {
    const page = await browser.newPage();
    await page.goto(`http://${hot.addr}/?user=hot-owner&room=elsewhere`);
    const metric = async (name) => {
      const text = await (await fetch(`http://${hot.addr}/metrics`)).text();
      const line = text.split("\n").find((l) => l.startsWith(name + " "));
      return Number(line.split(" ")[1]);
    };
    // A raw socket with ?batch=1 (frames as they come) and the JS client
    // (each message handed out alone), both in room "hot".
    await page.evaluate(async (base) => {
      window.frames = [];
      window.ext = await new Promise((resolve, reject) => {
        const ws = new WebSocket(`${base}/ws?user=raw&room=hot&batch=1`);
        ws.onmessage = (ev) => window.frames.push(ev.data);
        ws.onopen = () => resolve(ws.extensions);
        ws.onerror = reject;
      });
      const { RoomcastClient } = await import("/roomcast.js");
      window.seen = [];
      const rc = new RoomcastClient(`${base}/ws`, { user: "jsbatch" });
      rc.addEventListener("chat", (e) => window.seen.push(e.detail.seq));
      await new Promise((resolve) => {
        rc.addEventListener("welcome", async () => { await rc.join("hot"); resolve(); });
        rc.connect();
      });
    }, `ws://${hot.addr}`);
    assert.match(await page.evaluate(() => window.ext), /permessage-deflate/);
    const compressed0 = await metric("roomcast_compressed_messages_total");
    // Ten chats with a compressible body, published back to back: they
    // fall into one or two batch windows.
    const text = "danmaku ".repeat(30);
    await Promise.all([...Array(10).keys()].map(() => fetch(`http://${hot.addr}/api/publish`, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ room: "hot", data: { text } }),
    })));
    await page.waitForFunction(() => window.seen.length === 10, null, { timeout: 10000 });
    const { frames, seen } = await page.evaluate(() => ({ frames: window.frames, seen: window.seen }));
    const batches = frames.map((f) => JSON.parse(f)).filter((m) => Array.isArray(m));
    assert.ok(batches.length >= 1 && batches.length <= 10, `batches: ${batches.length}`);
    assert.ok(batches.some((b) => b.length > 1), "several chats shared a frame");
    const seqs = batches.flat().map((m) => m.seq);
    assert.deepEqual(seqs, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], "the raw socket got every chat in order");
    assert.ok(batches.flat().every((m) => m.type === "chat" && m.data.text === text));
    assert.deepEqual(seen, seqs, "the JS client handed out each chat once, in order");
    // Each batch went to two deflate members but was compressed once.
    const compressed = (await metric("roomcast_compressed_messages_total")) - compressed0;
    assert.ok(compressed >= batches.length && compressed < 2 * batches.length, `compressed ${compressed} for ${batches.length} batches`);
  } finally {
    hot.child.kill();
  }
});
