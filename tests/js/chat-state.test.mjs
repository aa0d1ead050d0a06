// Chat delivery: client ids and acknowledgements (static/js/room/chat-state.js).
import assert from "node:assert/strict";
import { test } from "node:test";

import { ChatDelivery, NOT_SENT, SENDING, newClientId } from "../../static/js/room/chat-state.js";

const stored = (id, clientId) => ({ id, client_id: clientId, text: "hi", sender: {} });

test("a client id is 24 hex digits from the random source", () => {
  const id = newClientId((bytes) => bytes.fill(171));
  assert.equal(id, "ab".repeat(12));
  assert.match(newClientId(), /^[0-9a-f]{24}$/);
  assert.notEqual(newClientId(), newClientId());
});

test("our message is answered by its stored copy, once", () => {
  const chat = new ChatDelivery();
  chat.sending("c1", "hi");
  assert.equal(chat.outgoing.get("c1").state, SENDING);
  assert.deepEqual(chat.received(stored(7, "c1")), { mine: "c1", duplicate: false });
  assert.equal(chat.outgoing.size, 0);
  // Replayed with the history after a reconnect: already shown.
  assert.deepEqual(chat.received(stored(7)), { mine: null, duplicate: true });
});

test("others' messages are shown once each", () => {
  const chat = new ChatDelivery();
  assert.deepEqual(chat.received(stored(1)), { mine: null, duplicate: false });
  assert.deepEqual(chat.received(stored(2, "someone-elses")), { mine: null, duplicate: false });
  assert.deepEqual(chat.received(stored(1)), { mine: null, duplicate: true });
});

test("an error, a timeout or a drop marks it not sent; Retry keeps its id and text", () => {
  const chat = new ChatDelivery();
  chat.sending("c1", "first");
  chat.sending("c2", "second");
  assert.equal(chat.notSent("c1"), true);
  assert.equal(chat.notSent("unknown"), false);
  assert.equal(chat.outgoing.get("c1").state, NOT_SENT);
  // The socket drops: only what was still on its way is newly marked.
  assert.deepEqual(chat.lost(), ["c2"]);
  assert.deepEqual(chat.lost(), []);
  chat.sending("c1");
  assert.deepEqual(chat.outgoing.get("c1"), { text: "first", state: SENDING });
  assert.deepEqual(chat.received(stored(3, "c1")).mine, "c1");
});
