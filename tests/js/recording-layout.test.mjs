// The recording composite's layout (static/js/room/recording/layout.js).
import assert from "node:assert/strict";
import { test } from "node:test";

import { COMPOSITE, fitInto, tileBoxes } from "../../static/js/room/recording/layout.js";

test("two people side by side fill the canvas; three share it with no pixel lost", () => {
  assert.deepEqual(tileBoxes(2, 1280, 480), [
    { x: 0, y: 0, width: 640, height: 480 },
    { x: 640, y: 0, width: 640, height: 480 },
  ]);
  const three = tileBoxes(3, 1280, 480);
  assert.equal(three.reduce((sum, box) => sum + box.width, 0), 1280);
  assert.equal(three[2].x + three[2].width, 1280);
  assert.deepEqual(tileBoxes(0), [{ x: 0, y: 0, width: COMPOSITE.width, height: COMPOSITE.height }]);
});

test("a picture is fitted whole and centred: a 4:3 camera fills its tile, a wide screen share is letterboxed", () => {
  const box = { x: 640, y: 0, width: 640, height: 480 };
  assert.deepEqual(fitInto(box, 320, 240), box);
  assert.deepEqual(fitInto(box, 1920, 1080), { x: 640, y: 60, width: 640, height: 360 });
  assert.deepEqual(fitInto(box, 480, 640), { x: 780, y: 0, width: 360, height: 480 });
  assert.deepEqual(fitInto(box, 0, 0), box); // no picture yet
});
