// Chat delivery as the page keeps it: the client ids of our messages on their way, and the ids
// of the messages shown. Pure: no DOM, no socket, no timers (ChatPanel in chat.js shows it).
//
// A message of ours gets a client id the server echoes (docs/protocol.md, Chat delivery): its
// stored copy coming back with that id marks it sent; an error naming the id, no answer in
// time or the socket dropping meanwhile marks it "Not sent", and Retry sends it again with the
// same id.

export const SENDING = "sending";
export const NOT_SENT = "not-sent";

// 24 hex digits. crypto.randomUUID needs a secure context; getRandomValues works on plain http.
export function newClientId(random = (bytes) => crypto.getRandomValues(bytes)) {
  const bytes = random(new Uint8Array(12));
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

export class ChatDelivery {
  constructor() {
    this.outgoing = new Map(); // client id -> {text, state}
    this.seen = new Set(); // ids of stored messages shown
  }

  // We send (or send again) a message: it is on its way.
  sending(clientId, text) {
    const message = this.outgoing.get(clientId) || { text };
    message.state = SENDING;
    this.outgoing.set(clientId, message);
    return message;
  }

  // No answer will come for it: an error naming it, a timeout, a send that failed. Returns
  // whether it is one of ours not stored yet.
  notSent(clientId) {
    const message = this.outgoing.get(clientId);
    if (!message) return false;
    message.state = NOT_SENT;
    return true;
  }

  // The socket dropped: everything still on its way may not have arrived.
  lost() {
    const ids = [];
    for (const [clientId, message] of this.outgoing) {
      if (message.state === SENDING) ids.push(clientId);
    }
    for (const clientId of ids) this.notSent(clientId);
    return ids;
  }

  // A stored message arrived (live, or with the history after a reconnect). Says what to show:
  // `mine` is the client id of our own message it answers (which leaves the outgoing list),
  // `duplicate` whether it is shown already.
  received(message) {
    const mine = message.client_id && this.outgoing.has(message.client_id) ? message.client_id : null;
    if (mine) this.outgoing.delete(mine);
    const duplicate = this.seen.has(message.id);
    this.seen.add(message.id);
    return { mine, duplicate };
  }
}
