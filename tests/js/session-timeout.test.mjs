// The automatic logoff's page side (static/js/session/): when the warning shows, when the page
// keeps the session alive instead, and what signing out clears.
import assert from "node:assert/strict";
import { test } from "node:test";

import { clearNoteDrafts, noteDraftKey } from "../../static/js/session/note-drafts.js";
import { SessionTimeout } from "../../static/js/session/timeout.js";

function timeoutWith(answers, { busy = false } = {}) {
  const seen = { shown: 0, hidden: 0, signedOut: 0, asked: [] };
  const timeout = new SessionTimeout({
    statusUrl: "/session/",
    keepAliveUrl: "/session/keep-alive/",
    csrfToken: "token",
    busy: () => busy,
    warning: { show: () => (seen.shown += 1), hide: () => (seen.hidden += 1) },
    signedOut: () => (seen.signedOut += 1),
  });
  timeout.ask = async (url, init) => {
    seen.asked.push(`${init?.method || "GET"} ${url}`);
    return answers[url].shift();
  };
  return { timeout, seen };
}

const left = (secondsLeft) => ({ signedIn: true, secondsLeft, warningSeconds: 60 });

test("far from the end nothing shows, and the page asks again when the warning is due", async (t) => {
  t.mock.timers.enable({ apis: ["setTimeout"] });
  const { timeout, seen } = timeoutWith({ "/session/": [left(900), left(60)] });
  await timeout.check();
  assert.equal(seen.shown, 0);
  t.mock.timers.tick(839_999);
  assert.deepEqual(seen.asked, ["GET /session/"]);
  t.mock.timers.tick(1);
  await new Promise(setImmediate);
  assert.equal(seen.shown, 1);
});

test("a warned page hides it once another tab kept the session alive", async (t) => {
  t.mock.timers.enable({ apis: ["setTimeout"] });
  const { timeout, seen } = timeoutWith({ "/session/": [left(50), left(890)] });
  await timeout.check();
  assert.equal(seen.shown, 1);
  t.mock.timers.tick(5000); // it keeps asking while it warns
  await new Promise(setImmediate);
  assert.equal(seen.hidden, 1);
});

test("in the visit the page keeps the session alive instead of warning", async (t) => {
  t.mock.timers.enable({ apis: ["setTimeout"] });
  const { timeout, seen } = timeoutWith(
    { "/session/": [left(50)], "/session/keep-alive/": [left(900)] },
    { busy: true },
  );
  await timeout.check();
  assert.deepEqual(seen.asked, ["GET /session/", "POST /session/keep-alive/"]);
  assert.equal(seen.shown, 0);
});

test("signed out by the server: the page goes to sign in", async (t) => {
  t.mock.timers.enable({ apis: ["setTimeout"] });
  const { timeout, seen } = timeoutWith({
    "/session/": [{ signedIn: false, secondsLeft: 0, warningSeconds: 60 }],
  });
  await timeout.check();
  assert.equal(seen.signedOut, 1);
});

test("signing out clears the note drafts and nothing else", () => {
  const items = new Map([
    [noteDraftKey(7), "{}"],
    [noteDraftKey(8), "{}"],
    ["clinic-meet:devices", "{}"],
    ["clinic-meet:joined:room", "{}"],
  ]);
  const storage = {
    get length() {
      return items.size;
    },
    key: (index) => [...items.keys()][index] ?? null,
    removeItem: (key) => items.delete(key),
  };
  assert.equal(clearNoteDrafts(storage), 2);
  assert.deepEqual([...items.keys()], ["clinic-meet:devices", "clinic-meet:joined:room"]);
});
