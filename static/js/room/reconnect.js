// When the room's WebSocket reconnects, and when it gives up. Pure: no DOM, no sockets.
//
// The server closes with a code of docs/protocol.md; the page's config lists which of them are
// final (protocol.finalCloseCodes, from rooms/protocol.py). Any other close (a dropped network,
// a server restart, a silent connection timed out, the room's store unavailable for a while)
// is reconnected after a growing delay.

const FIRST_DELAY_MS = 500;
export const MAX_DELAY_MS = 8_000;

// The wait before reconnect attempt number `attempt` (0 for the first after a drop).
export function reconnectDelay(attempt) {
  return Math.min(FIRST_DELAY_MS * 2 ** attempt, MAX_DELAY_MS);
}

// Whether a close with `code` ends the visit for this page (no reconnecting).
export function isFinalClose(code, finalCloseCodes) {
  return finalCloseCodes.includes(code);
}

// What the ended page says after the socket closed with `code`. `lastNotice` is the message
// of the last room.denied / room.removed / room.closed / room.ended frame, if any.
export function endReason(code, lastNotice, closeCodes) {
  const reasons = {
    [closeCodes.REPLACED]: "You joined this visit from another window or device.",
    [closeCodes.NOT_ALLOWED]: lastNotice || "You cannot join this visit.",
    [closeCodes.ROOM_CLOSED]: lastNotice || "This visit has ended.",
    [closeCodes.NOT_AUTHENTICATED]: "Your sign-in has expired. Sign in again to rejoin.",
  };
  return reasons[code] || lastNotice || "You have left the visit.";
}
