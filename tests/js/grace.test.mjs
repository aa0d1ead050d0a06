// The leave grace: what belongs to someone missing goes only if they are not back in time
// (static/js/room/grace.js).
import assert from "node:assert/strict";
import { test } from "node:test";

import { LEAVE_GRACE_MS, LeaveGrace } from "../../static/js/room/grace.js";

test("someone missing is forgotten after the grace, once", (t) => {
  t.mock.timers.enable({ apis: ["setTimeout"] });
  const forgotten = [];
  const grace = new LeaveGrace((key) => forgotten.push(key));
  grace.update(["a", "b"], (key) => key === "a");
  assert.equal(grace.isLeaving("b"), true);
  grace.update(["a", "b"], (key) => key === "a"); // a second state does not restart it
  t.mock.timers.tick(LEAVE_GRACE_MS - 1);
  assert.deepEqual(forgotten, []);
  t.mock.timers.tick(1);
  assert.deepEqual(forgotten, ["b"]);
  assert.equal(grace.isLeaving("b"), false);
});

test("someone back within the grace is kept", (t) => {
  t.mock.timers.enable({ apis: ["setTimeout"] });
  const forgotten = [];
  const grace = new LeaveGrace((key) => forgotten.push(key));
  grace.update(["b"], () => false);
  t.mock.timers.tick(LEAVE_GRACE_MS / 2);
  grace.update(["b"], () => true);
  t.mock.timers.tick(LEAVE_GRACE_MS);
  assert.deepEqual(forgotten, []);
});

test("cancel and clear forget nothing later", (t) => {
  t.mock.timers.enable({ apis: ["setTimeout"] });
  const forgotten = [];
  const grace = new LeaveGrace((key) => forgotten.push(key), 100);
  grace.update(["a", "b", "c"], () => false);
  grace.cancel("a");
  t.mock.timers.tick(50);
  grace.clear();
  t.mock.timers.tick(100);
  assert.deepEqual(forgotten, []);
});
