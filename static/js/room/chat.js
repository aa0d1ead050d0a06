// In-call chat: history on admission, then each message as it comes.
//
// A message of ours shows at once, "Sending…", with a client id the server echoes: its stored
// copy coming back with that id marks it sent; an error naming the id, no answer in time or
// the socket dropping meanwhile marks it "Not sent" with a Retry that sends it again (see
// docs/protocol.md). Nothing typed is dropped without saying so.

const ANSWER_TIMEOUT_MS = 15_000;

function newClientId() {
  // crypto.randomUUID needs a secure context; getRandomValues works on plain http too.
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

export class ChatPanel {
  constructor({ log, form, input, send, myUserId }) {
    this.log = log;
    this.send = send;
    this.myUserId = myUserId;
    this.seen = new Set();
    this.outgoing = new Map(); // client id -> {text, item, timer}
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const text = input.value.trim();
      if (!text) return;
      input.value = "";
      this.post(text, newClientId());
    });
  }

  post(text, clientId) {
    let message = this.outgoing.get(clientId);
    if (!message) {
      message = { text, item: this.render({ mine: true, name: "You", text }) };
      message.item.dataset.clientId = clientId;
      this.outgoing.set(clientId, message);
      this.append(message.item);
    }
    clearTimeout(message.timer);
    message.item.classList.remove("chat__message--failed");
    this.setStatus(message, "Sending…");
    if (!this.send({ type: "chat", text, client_id: clientId })) {
      return this.notSent(clientId);
    }
    message.timer = setTimeout(() => this.notSent(clientId), ANSWER_TIMEOUT_MS);
  }

  // An error frame naming one of our messages (docs/protocol.md: `not_sent` and the others).
  notSent(clientId) {
    const message = this.outgoing.get(clientId);
    if (!message) return;
    clearTimeout(message.timer);
    message.item.classList.add("chat__message--failed");
    const status = this.setStatus(message, "Not sent — ");
    const retry = document.createElement("button");
    retry.type = "button";
    retry.className = "chat__retry";
    retry.textContent = "Retry";
    retry.addEventListener("click", () => this.post(message.text, clientId));
    status.append(retry);
  }

  // The socket dropped: what was on its way got no answer and may not have arrived.
  connectionLost() {
    for (const [clientId, message] of this.outgoing) {
      if (!message.item.classList.contains("chat__message--failed")) this.notSent(clientId);
    }
  }

  show(message) {
    const mine = message.client_id ? this.outgoing.get(message.client_id) : undefined;
    if (mine) {
      clearTimeout(mine.timer);
      this.outgoing.delete(message.client_id);
    }
    if (this.seen.has(message.id)) {
      mine?.item.remove(); // already shown (replayed with the history after a reconnect)
      return;
    }
    this.seen.add(message.id);
    const item = this.render(this.fields(message));
    if (mine) mine.item.replaceWith(item); // our own message, stored: it keeps its place
    else this.append(item);
  }

  append(item) {
    this.log.append(item);
    this.log.scrollTop = this.log.scrollHeight;
  }

  fields(message) {
    return {
      mine: message.sender.user_id === this.myUserId,
      name: message.sender.display_name,
      sentAt: message.sent_at,
      text: message.text,
    };
  }

  setStatus(message, text) {
    let status = message.item.querySelector(".chat__status");
    if (!status) {
      status = document.createElement("span");
      status.className = "chat__status";
      message.item.querySelector(".chat__sender").after(" ", status);
    }
    status.textContent = text;
    return status;
  }

  render({ mine, name, sentAt, text }) {
    const item = document.createElement("li");
    item.className = "chat__message";
    if (mine) item.classList.add("chat__message--mine");
    const who = document.createElement("span");
    who.className = "chat__sender";
    who.textContent = name;
    item.append(who);
    if (sentAt) {
      const when = document.createElement("time");
      when.className = "chat__time";
      when.dateTime = sentAt;
      when.textContent = new Date(sentAt).toLocaleTimeString([], {
        hour: "2-digit",
        minute: "2-digit",
      });
      item.append(" ", when);
    }
    const body = document.createElement("p");
    body.className = "chat__text";
    body.textContent = text;
    item.append(body);
    return item;
  }
}
