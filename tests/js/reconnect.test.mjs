// When the room's socket reconnects, when it gives up, and what the page then says
// (static/js/room/reconnect.js). The codes are the ones rooms/protocol.py hands the page.
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  MAX_DELAY_MS,
  endReason,
  isFinalClose,
  reconnectDelay,
} from "../../static/js/room/reconnect.js";

const CLOSE_CODES = {
  REPLACED: 4000,
  NOT_AUTHENTICATED: 4401,
  NOT_ALLOWED: 4403,
  UNKNOWN_ROOM: 4404,
  TIMED_OUT: 4408,
  ROOM_CLOSED: 4409,
  ABUSE: 4429,
  UNAVAILABLE: 4503,
};
const FINAL = [4000, 4401, 4403, 4404, 4409, 4429];

test("the delay doubles from half a second up to 8 s", () => {
  assert.deepEqual(
    [0, 1, 2, 3, 4, 5, 10].map(reconnectDelay),
    [500, 1000, 2000, 4000, 8000, 8000, 8000],
  );
  assert.equal(MAX_DELAY_MS, 8000);
});

test("only the final codes end the visit; drops, timeouts and outages reconnect", () => {
  for (const code of FINAL) assert.equal(isFinalClose(code, FINAL), true, code);
  for (const code of [1000, 1006, 1011, 4408, 4503, 4999]) {
    assert.equal(isFinalClose(code, FINAL), false, code);
  }
});

test("the ended page says why", () => {
  assert.match(endReason(4000, null, CLOSE_CODES), /another window or device/);
  assert.match(endReason(4401, "ignored", CLOSE_CODES), /sign-in has expired/);
  assert.equal(endReason(4403, null, CLOSE_CODES), "You cannot join this visit.");
  assert.equal(
    endReason(4403, "The doctor removed you from the visit.", CLOSE_CODES),
    "The doctor removed you from the visit.",
  );
  assert.equal(endReason(4409, null, CLOSE_CODES), "This visit has ended.");
  assert.equal(endReason(4409, "The doctor ended the visit.", CLOSE_CODES), "The doctor ended the visit.");
  assert.equal(endReason(1000, null, CLOSE_CODES), "You have left the visit.");
  assert.equal(endReason(4429, "Too many bad frames.", CLOSE_CODES), "Too many bad frames.");
});
