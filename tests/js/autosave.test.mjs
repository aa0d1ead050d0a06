// Which answers to a note's save are retried and which stop (static/js/room/autosave.js).
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  CONFLICT,
  REFUSED,
  RETRY,
  SAVED,
  refusedMessage,
  saveOutcome,
} from "../../static/js/room/autosave.js";

test("no answer at all (no connection) is retried", () => {
  assert.equal(saveOutcome(null), RETRY);
});

test("server errors are retried", () => {
  for (const status of [500, 502, 503, 504]) assert.equal(saveOutcome(status), RETRY, status);
});

test("a refusal is not retried: 400 and 403 will not change by sending again", () => {
  for (const status of [400, 401, 403, 404, 413]) assert.equal(saveOutcome(status), REFUSED, status);
});

test("409 is a conflict, 2xx saved", () => {
  assert.equal(saveOutcome(409), CONFLICT);
  assert.equal(saveOutcome(200), SAVED);
  assert.equal(saveOutcome(201), SAVED);
});

test("a refusal says why, never that there is no connection", () => {
  const forbidden = refusedMessage(403, undefined);
  assert.match(forbidden, /^Not saved: /);
  assert.doesNotMatch(forbidden, /connection|retrying/);
  assert.match(refusedMessage(400, "Notes are limited to 20000 characters."), /20000 characters/);
  assert.match(refusedMessage(400, undefined), /refused it \(400\)/);
});
