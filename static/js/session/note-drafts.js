// The SOAP note's unsaved drafts, kept in this browser's localStorage until the server has them
// (room/notes.js). Signing out clears them all: nobody after us on this device may read them.
// Only those: the remembered devices (room/media.js) stay, and the recordings' chunks in
// IndexedDB stay too (they are a recording not yet uploaded).

const PREFIX = "clinic-meet:note:";

export function noteDraftKey(appointmentId) {
  return `${PREFIX}${appointmentId}`;
}

export function clearNoteDrafts(storage = globalThis.localStorage) {
  const keys = [];
  for (let index = 0; index < storage.length; index += 1) {
    const key = storage.key(index);
    if (key?.startsWith(PREFIX)) keys.push(key);
  }
  for (const key of keys) storage.removeItem(key);
  return keys.length;
}
