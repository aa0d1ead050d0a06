// What the page tells: which stage shows, the visit's status badge, the screen-reader
// announcer, the connection quality line and the ended screen.

import { $ } from "./dom.js";
import { describe } from "./stats.js";

const STAGES = ["precall", "waiting", "call", "ended"];

export class StatusView {
  constructor({ statusLabels }) {
    this.statusLabels = statusLabels;
    this.lastReport = null;
  }

  showStage(name) {
    for (const stage of STAGES) $(stage).hidden = stage !== name;
    $("chat-panel").hidden = name !== "call";
  }

  // The status badge in the visit details, which the page rendered as the visit stood then.
  showVisitStatus(status) {
    const badge = $("visit-status");
    if (!badge || !this.statusLabels[status]) return;
    badge.className = `badge badge--${status}`;
    badge.textContent = this.statusLabels[status];
  }

  announce(text) {
    $("room-announcer").textContent = text;
  }

  showConnection(report) {
    $("connection-text").textContent = describe(report);
    $("connection").dataset.quality = report.quality;
    this.lastReport = report;
  }

  showEnded(reason) {
    $("ended-reason").textContent = reason;
    this.showStage("ended");
    this.announce(reason);
  }
}
