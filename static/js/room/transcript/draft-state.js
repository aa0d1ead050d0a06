// The AI scribe's draft note as the doctor's notes show it (draft-note.js): which sections it
// has, what accepting one does to the doctor's own text, what the draft's status says. Pure.

export const SECTIONS = ["subjective", "objective", "assessment", "plan"];

// The doctor's text with the accepted draft added: never overwritten; after what is there,
// past a blank line.
export function acceptInto(existing, draft) {
  const added = (draft || "").trim();
  if (!added) return existing;
  const kept = (existing || "").replace(/\s+$/, "");
  return kept ? `${kept}\n\n${added}` : added;
}

// A GET /api/appointments/{id}/draft-note/ body (or a draft_note.ready frame's draft_note) ->
// {status, sections: [{name, text, cited: [ids]}], model, failure}, with the empty sections left out.
export function readDraft(body) {
  const sections = body?.sections || {};
  const cited = body?.cited_segments || {};
  return {
    status: body?.status || "pending",
    model: body?.model || "",
    failure: body?.failure || "",
    sections: SECTIONS.filter((name) => (sections[name] || "").trim()).map((name) => ({
      name,
      text: sections[name].trim(),
      cited: (cited[name] || []).filter((id) => Number.isInteger(id) || /^\d+$/.test(String(id))).map(Number),
    })),
  };
}

// What the notes say of the draft.
export function draftStatusText(draft) {
  switch (draft.status) {
    case "pending":
      return "Drafting a note from the transcript…";
    case "failed":
      return `The draft note failed${draft.failure ? `: ${draft.failure}` : ""}.`;
    case "ready":
      return draft.sections.length
        ? `Draft ready${draft.model ? ` (${draft.model})` : ""}: accept, edit or discard each section. Nothing is added without you.`
        : "The draft note is empty: the transcript gave nothing to note.";
    default:
      return "";
  }
}
