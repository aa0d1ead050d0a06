// The live transcript in the doctor's sidebar: segments with speaker and time, what the engine
// hears of the turn under way (lighter, per speaker), "Transcript delayed" when audio waits on
// this page, and a correction of any segment (PATCH /api/transcript-segments/{id}/; the
// original stays, under "Original"). Scrolls on with new segments unless the doctor scrolled up.
// The patient's page has none of this: the live transcript is the doctor's.

import { $ } from "../dom.js";
import { fetchJson } from "../http.js";
import { atEnd, formatOffset, shownText, speakerName, withSegment } from "./segments.js";

export class TranscriptPanel {
  // `urls`: {transcript, segment(id)}.
  constructor({ urls }) {
    this.urls = urls;
    this.segments = [];
    this.partials = new Map(); // stream -> {speaker, text}
    this.panel = $("transcript-panel");
    this.log = $("transcript-log");
    this.scroller = $("transcript-scroll");
    this.log.addEventListener("click", (event) => this.clicked(event));
  }

  // What the server kept (after a reload, or before this page joined).
  async load() {
    const answer = await fetchJson(this.urls.transcript).catch(() => null);
    if (!answer?.ok) return;
    for (const segment of answer.data.segments || []) this.segments = withSegment(this.segments, segment);
    this.render();
  }

  show() {
    this.panel.hidden = false;
  }

  addSegment(segment) {
    this.show();
    this.segments = withSegment(this.segments, segment);
    // Their turn is over: what we heard of it gives way to the segment.
    for (const [stream, partial] of this.partials) {
      if (partial.speaker?.user_id === segment.speaker?.user_id) this.partials.delete(stream);
    }
    this.render();
    this.renderPartials();
  }

  partial({ stream, speaker, text }) {
    this.show();
    if (text) this.partials.set(stream, { speaker, text });
    else this.partials.delete(stream);
    this.renderPartials();
  }

  notice(text) {
    $("transcript-notice").hidden = !text;
    $("transcript-notice").textContent = text || "";
  }

  keepingPlace(update) {
    const follow = atEnd(this.scroller);
    update();
    if (follow) this.scroller.scrollTop = this.scroller.scrollHeight;
  }

  render() {
    if (this.segments.length) this.show();
    // A correction being typed stays as it is (its node is kept).
    const editing = this.log.querySelector(".segment--editing");
    this.keepingPlace(() => {
      this.log.replaceChildren(
        ...this.segments.map((segment) =>
          editing && String(segment.id) === editing.dataset.segmentId ? editing : this.item(segment, false),
        ),
      );
    });
    $("transcript-empty").hidden = this.segments.length > 0;
  }

  renderPartials() {
    this.keepingPlace(() => {
      $("transcript-partials").replaceChildren(
        ...[...this.partials.values()].map(({ speaker, text }) => {
          const line = document.createElement("p");
          line.className = "segment segment--partial";
          line.textContent = `${speaker?.display_name || "Speaker"}: ${text}`;
          return line;
        }),
      );
    });
  }

  item(segment, editing) {
    const li = document.createElement("li");
    li.className = "segment";
    li.id = `segment-${segment.id}`;
    li.dataset.segmentId = segment.id;
    li.dataset.speakerId = segment.speaker?.user_id ?? "";
    const head = document.createElement("p");
    head.className = "segment__head";
    const who = document.createElement("span");
    who.className = "segment__speaker";
    who.textContent = speakerName(segment);
    const when = document.createElement("time");
    when.className = "segment__time";
    when.textContent = formatOffset(segment.start_ms);
    head.append(who, " ", when);
    li.append(head);
    if (editing) {
      li.classList.add("segment--editing");
      const area = document.createElement("textarea");
      area.className = "input segment__editor";
      area.value = shownText(segment);
      area.setAttribute("aria-label", `Correct what ${speakerName(segment)} said`);
      li.append(area, this.button("Save", "save"), " ", this.button("Cancel", "cancel"));
      queueMicrotask(() => area.focus());
      return li;
    }
    const text = document.createElement("p");
    text.className = "segment__text";
    text.textContent = shownText(segment);
    li.append(text);
    if (segment.corrected_text) {
      li.classList.add("segment--corrected");
      const original = document.createElement("details");
      original.className = "segment__original small";
      const summary = document.createElement("summary");
      summary.textContent = "Corrected · original";
      const said = document.createElement("p");
      said.textContent = segment.text;
      original.append(summary, said);
      li.append(original);
    }
    li.append(this.button("Correct", "edit"));
    return li;
  }

  button(label, action) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "button button--secondary button--small segment__action";
    button.dataset.action = action;
    button.textContent = label;
    return button;
  }

  clicked(event) {
    const button = event.target.closest("button[data-action]");
    const li = button?.closest(".segment");
    if (!li) return;
    const segment = this.segments.find((s) => String(s.id) === li.dataset.segmentId);
    if (!segment) return;
    if (button.dataset.action === "edit") {
      li.replaceWith(this.item(segment, true));
    } else if (button.dataset.action === "cancel") {
      li.replaceWith(this.item(segment, false));
    } else if (button.dataset.action === "save") {
      this.correct(segment, li.querySelector("textarea").value.trim(), li);
    }
  }

  async correct(segment, text, li) {
    // The original again is no correction: "" removes it.
    const corrected = text === segment.text ? "" : text;
    const answer = await fetchJson(this.urls.segment(segment.id), {
      method: "PATCH",
      body: { corrected_text: corrected },
    }).catch(() => null);
    if (!answer?.ok) {
      const why = answer ? answer.data.detail || `the server answered ${answer.status}` : "no connection";
      $("transcript-notice").hidden = false;
      $("transcript-notice").textContent = `The correction was not saved: ${why}.`;
      return;
    }
    const saved = answer.data?.id === segment.id ? answer.data : { ...segment, corrected_text: corrected };
    this.segments = withSegment(this.segments, saved);
    li.replaceWith(this.item(saved, false));
  }

  // A cited segment's link: bring it into view and mark it a moment.
  reveal(segmentId) {
    const li = $(`segment-${segmentId}`);
    if (!li) return false;
    li.scrollIntoView({ block: "center", behavior: "smooth" });
    li.classList.add("segment--cited");
    setTimeout(() => li.classList.remove("segment--cited"), 2000);
    return true;
  }

  get status() {
    return {
      segments: this.segments.map((s) => ({
        id: s.id,
        speaker: s.speaker ? { ...s.speaker } : null,
        start_ms: s.start_ms,
        text: shownText(s),
      })),
      partials: [...this.partials.values()].map(({ speaker, text }) => ({ userId: speaker?.user_id ?? null, text })),
      notice: $("transcript-notice").hidden ? null : $("transcript-notice").textContent,
    };
  }
}
