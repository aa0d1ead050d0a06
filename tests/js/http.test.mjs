// Same-origin JSON requests with the CSRF token (static/js/room/http.js).
import assert from "node:assert/strict";
import { test } from "node:test";

import { csrfToken, fetchJson } from "../../static/js/room/http.js";

test("the CSRF token is read from Django's cookie", () => {
  assert.equal(csrfToken("sessionid=x; csrftoken=abc123; other=1"), "abc123");
  assert.equal(csrfToken("sessionid=x"), "");
  assert.equal(csrfToken(""), "");
});

test("a write sends JSON with the token; the answer comes back as {ok, status, data}", async (t) => {
  const calls = [];
  t.mock.method(globalThis, "fetch", async (url, init) => {
    calls.push({ url, init });
    return new Response(JSON.stringify({ detail: "nope" }), { status: 403 });
  });
  const answer = await fetchJson("/api/x/", { method: "PUT", body: { a: 1 } });
  assert.deepEqual(answer, { ok: false, status: 403, data: { detail: "nope" } });
  assert.equal(calls[0].init.method, "PUT");
  assert.equal(calls[0].init.credentials, "same-origin");
  assert.equal(calls[0].init.body, '{"a":1}');
  assert.equal(calls[0].init.headers["Content-Type"], "application/json");
  assert.ok("X-CSRFToken" in calls[0].init.headers);
});

test("an answer without JSON gives empty data; no answer rejects", async (t) => {
  t.mock.method(globalThis, "fetch", async () => new Response("", { status: 502 }));
  assert.deepEqual(await fetchJson("/api/x/"), { ok: false, status: 502, data: {} });
  t.mock.method(globalThis, "fetch", async () => {
    throw new TypeError("Failed to fetch");
  });
  await assert.rejects(fetchJson("/api/x/"), TypeError);
});
