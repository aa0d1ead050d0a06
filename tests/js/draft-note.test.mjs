// The AI scribe's draft beside the doctor's note (static/js/room/transcript/draft-state.js).
import assert from "node:assert/strict";
import { test } from "node:test";

import { acceptInto, draftStatusText, readDraft } from "../../static/js/room/transcript/draft-state.js";

test("accepting a section never overwrites the doctor's text: it comes after it, past a blank line", () => {
  assert.equal(acceptInto("", "Cough for three days."), "Cough for three days.");
  assert.equal(acceptInto("Seen today.\n  ", "  Cough for three days. "), "Seen today.\n\nCough for three days.");
  assert.equal(acceptInto("Seen today.", "   "), "Seen today."); // nothing to add
});

test("a draft reads as its non-empty sections in SOAP order, with their cited segments", () => {
  const draft = readDraft({
    status: "ready",
    model: "llama-3",
    sections: { plan: "Rest.", subjective: "Sore throat.", objective: "", assessment: "  " },
    cited_segments: { subjective: [4, 5], plan: ["7", "x"] },
  });
  assert.deepEqual(draft.sections, [
    { name: "subjective", text: "Sore throat.", cited: [4, 5] },
    { name: "plan", text: "Rest.", cited: [7] },
  ]);
  assert.match(draftStatusText(draft), /^Draft ready \(llama-3\)/);
});

test("pending and failed drafts say so", () => {
  assert.equal(draftStatusText(readDraft({ status: "pending" })), "Drafting a note from the transcript…");
  assert.equal(draftStatusText(readDraft({ status: "failed", failure: "the LLM did not answer" })), "The draft note failed: the LLM did not answer.");
  assert.match(draftStatusText(readDraft({ status: "ready", sections: {} })), /empty/);
});
