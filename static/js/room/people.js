// The doctor's people panel: who waits (Admit, Deny) and who is in the visit (Remove), with
// a chime, an announcement and the count in the page title when someone starts waiting.

import { $ } from "./dom.js";
import { playTone } from "./media.js";
import { removableIn, roomTitle, waitingIn } from "./roster.js";

export class PeoplePanel {
  // `act(frame)`: send the doctor's frame; `speakerId()`: where the chime plays.
  constructor({ frames, act, announce, speakerId }) {
    this.frames = frames;
    this.act = act;
    this.announce = announce;
    this.speakerId = speakerId;
    this.waitingCount = 0;
    this.sentAway = new Set(); // participant ids the doctor asked to remove or deny
  }

  render(participants) {
    const waiting = waitingIn(participants);
    if (waiting.length > this.waitingCount) {
      this.chime();
      this.announce(`${waiting.at(-1).display_name} is waiting to join.`);
    }
    this.waitingCount = waiting.length;
    document.title = roomTitle(waiting.length);
    const { ADMIT, DENY, REMOVE } = this.frames;
    $("waiting-list").replaceChildren(
      ...waiting.map((p) =>
        this.row(p, "is waiting", [
          ["Admit", "button--primary", { type: ADMIT, participant_id: p.participant_id }],
          ["Deny", "button--secondary", { type: DENY, participant_id: p.participant_id }],
        ]),
      ),
    );
    $("participant-list").replaceChildren(
      ...removableIn(participants).map((p) =>
        this.row(p, "is in the visit", [
          ["Remove", "button--secondary", { type: REMOVE, participant_id: p.participant_id }],
        ]),
      ),
    );
  }

  row(participant, what, actions) {
    const item = document.createElement("li");
    item.className = "people__row";
    const label = document.createElement("span");
    label.textContent = `${participant.display_name} ${what}`;
    item.append(label);
    for (const [text, style, frame] of actions) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = `button button--small ${style}`;
      button.textContent = text;
      button.setAttribute("aria-label", `${text} ${participant.display_name}`);
      button.addEventListener("click", () => {
        if (frame.type !== this.frames.ADMIT) this.sentAway.add(frame.participant_id);
        this.act(frame);
      });
      item.append(button);
    }
    return item;
  }

  chime() {
    // Sound is a bonus; the title and the list carry the news.
    playTone(this.speakerId(), { frequency: 880, seconds: 0.25, volume: 0.05 }).catch(() => {});
  }
}
