// Where the transcript's parts live, from the page config (rooms/views.py): its `transcript`
// object when the server gives one ({url, segmentUrl with "{id}", audioSocketPath,
// draftNoteUrl}), else the documented addresses (docs/protocol.md, docs/transcripts.md).
// `draftNoteUrl` is there only when the clinic configured an LLM (LLM_BASE_URL): without it
// the page shows no "Draft note" button. Pure.

export function transcriptSettings(config) {
  const given = config.transcript || {};
  const segmentUrl = given.segmentUrl || "/api/transcript-segments/{id}/";
  return {
    transcriptUrl: given.url || `/api/appointments/${config.appointmentId}/transcript/`,
    segmentUrl: (id) => segmentUrl.replace("{id}", encodeURIComponent(id)),
    audioSocketPath: given.audioSocketPath || `/ws/rooms/${config.roomId}/audio/`,
    draftNoteUrl: typeof given.draftNoteUrl === "string" && given.draftNoteUrl ? given.draftNoteUrl : null,
  };
}
