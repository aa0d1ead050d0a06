// In-call chat: history on admission, then each message as it comes.

export class ChatPanel {
  constructor({ log, form, input, send, myUserId }) {
    this.log = log;
    this.send = send;
    this.myUserId = myUserId;
    this.seen = new Set();
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const text = input.value.trim();
      if (text && this.send({ type: "chat", text })) input.value = "";
    });
  }

  show(message) {
    if (this.seen.has(message.id)) return;
    this.seen.add(message.id);
    const item = document.createElement("li");
    item.className = "chat__message";
    if (message.sender.user_id === this.myUserId) item.classList.add("chat__message--mine");
    const who = document.createElement("span");
    who.className = "chat__sender";
    who.textContent = message.sender.display_name;
    const when = document.createElement("time");
    when.className = "chat__time";
    when.dateTime = message.sent_at;
    when.textContent = new Date(message.sent_at).toLocaleTimeString([], {
      hour: "2-digit",
      minute: "2-digit",
    });
    const text = document.createElement("p");
    text.className = "chat__text";
    text.textContent = message.text;
    item.append(who, " ", when, text);
    this.log.append(item);
    this.log.scrollTop = this.log.scrollHeight;
  }
}
