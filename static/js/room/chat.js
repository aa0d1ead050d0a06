// In-call chat: history on admission, then each message as it comes.
//
// A message of ours shows at once, "Sending…", until the server answers it; it shows "Not
// sent" with a Retry when the answer is an error, does not come in time, or the socket drops
// meanwhile (the delivery state is chat-state.js; docs/protocol.md). Nothing typed is dropped
// without saying so.

import { ChatDelivery, newClientId } from "./chat-state.js";

const ANSWER_TIMEOUT_MS = 15_000;

export class ChatPanel {
  constructor({ log, form, input, send, chatFrame, myUserId }) {
    this.log = log;
    this.send = send;
    this.chatFrame = chatFrame; // the client frame type of a chat message
    this.myUserId = myUserId;
    this.delivery = new ChatDelivery();
    this.items = new Map(); // client id -> the <li> of our message on its way
    this.timers = new Map(); // client id -> its answer timeout
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const text = input.value.trim();
      if (!text) return;
      input.value = "";
      this.post(text, newClientId());
    });
  }

  post(text, clientId) {
    this.delivery.sending(clientId, text);
    let item = this.items.get(clientId);
    if (!item) {
      item = this.render({ mine: true, name: "You", text });
      item.dataset.clientId = clientId;
      this.items.set(clientId, item);
      this.append(item);
    }
    clearTimeout(this.timers.get(clientId));
    item.classList.remove("chat__message--failed");
    this.setStatus(item, "Sending…");
    if (!this.send({ type: this.chatFrame, text, client_id: clientId })) {
      return this.notSent(clientId);
    }
    this.timers.set(
      clientId,
      setTimeout(() => this.notSent(clientId), ANSWER_TIMEOUT_MS),
    );
  }

  // An error frame naming one of our messages (docs/protocol.md: `not_sent` and the others).
  notSent(clientId) {
    if (!this.delivery.notSent(clientId)) return;
    clearTimeout(this.timers.get(clientId));
    const item = this.items.get(clientId);
    const text = this.delivery.outgoing.get(clientId).text;
    item.classList.add("chat__message--failed");
    const status = this.setStatus(item, "Not sent — ");
    const retry = document.createElement("button");
    retry.type = "button";
    retry.className = "chat__retry";
    retry.textContent = "Retry";
    retry.addEventListener("click", () => this.post(text, clientId));
    status.append(retry);
  }

  // The socket dropped: what was on its way got no answer and may not have arrived.
  connectionLost() {
    for (const clientId of this.delivery.lost()) this.notSent(clientId);
  }

  show(message) {
    const { mine, duplicate } = this.delivery.received(message);
    const item = mine ? this.items.get(mine) : undefined;
    if (mine) {
      clearTimeout(this.timers.get(mine));
      this.timers.delete(mine);
      this.items.delete(mine);
    }
    if (duplicate) {
      item?.remove(); // already shown (replayed with the history after a reconnect)
      return;
    }
    const shown = this.render(this.fields(message));
    if (item) item.replaceWith(shown); // our own message, stored: it keeps its place
    else this.append(shown);
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

  setStatus(item, text) {
    let status = item.querySelector(".chat__status");
    if (!status) {
      status = document.createElement("span");
      status.className = "chat__status";
      item.querySelector(".chat__sender").after(" ", status);
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
