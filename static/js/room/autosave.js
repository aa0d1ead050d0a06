// What the notes editor does with the answer to a save. Pure: no DOM, no fetch.
//
// Only what may heal by itself is retried: no connection at all, or a server error (5xx).
// A refusal (400 invalid, 403 not allowed, 404 gone) will not change by sending the same text
// again: the editor says why and stops, keeping the text on screen and on this device.
// 409 is a conflict (saved elsewhere, or the visit was completed: the saved note tells which).

export const SAVED = "saved";
export const CONFLICT = "conflict";
export const REFUSED = "refused";
export const RETRY = "retry";

// `status` is the HTTP status, or null when no answer came (a network error).
export function saveOutcome(status) {
  if (status === null || status === undefined) return RETRY;
  if (status >= 200 && status < 300) return SAVED;
  if (status === 409) return CONFLICT;
  if (status >= 500 || status === 408 || status === 429) return RETRY;
  return REFUSED;
}

// The words for a refused save: the server's `detail` when it gave one.
export function refusedMessage(status, detail) {
  const why =
    detail ||
    (status === 403 ? "You may no longer edit these notes." : `The server refused it (${status}).`);
  return `Not saved: ${why} Your text is kept on this device.`;
}

export const NO_CONNECTION_MESSAGE =
  "Not saved yet: no connection. Your text is kept on this device; retrying…";
export const SERVER_ERROR_MESSAGE =
  "Not saved yet: the server had a problem. Your text is kept on this device; retrying…";
