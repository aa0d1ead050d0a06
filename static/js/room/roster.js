// Reading a room.state (docs/protocol.md): who is in, who waits, what a tile says. Pure.

export const WAITING = "waiting";
export const ADMITTED = "admitted";

// The admitted participants other than us (whose media we show).
export function othersIn(participants, myUserId) {
  return participants.filter((p) => p.status === ADMITTED && p.user_id !== myUserId);
}

export function waitingIn(participants) {
  return participants.filter((p) => p.status === WAITING);
}

// Admitted patients (and anyone else not the doctor): whom the doctor may remove.
export function removableIn(participants) {
  return participants.filter((p) => p.status === ADMITTED && p.role !== "doctor");
}

// Admitting the patient starts the visit (the server moves the appointment along).
export function visitStarted(participants) {
  return participants.some((p) => p.role === "patient" && p.status === ADMITTED);
}

// Participants the doctor sent away (removed or denied) who are no longer listed: they are
// not reconnecting, so their media goes at once. Returns their entries from `previous`.
export function sentAwayAndGone(sentAway, previous, current) {
  const gone = [];
  for (const pid of sentAway) {
    if (current.some((p) => p.participant_id === pid)) continue;
    const entry = previous.find((p) => p.participant_id === pid);
    gone.push({ pid, entry: entry || null });
  }
  return gone;
}

// A remote tile's caption: the name, then what is off or shared.
export function tileCaption(participant) {
  const states = [];
  if (!participant.audio) states.push("microphone off");
  if (!participant.video) states.push("camera off");
  if (participant.screen) states.push("sharing screen");
  return participant.display_name + (states.length ? ` — ${states.join(", ")}` : "");
}

// Our own tile's state, after "You".
export function selfState({ micOn, cameraOn }) {
  const states = [];
  if (!micOn) states.push("muted");
  if (!cameraOn) states.push("camera off");
  return states.length ? ` — ${states.join(", ")}` : "";
}

export function roomTitle(waitingCount) {
  return (waitingCount ? `(${waitingCount} waiting) ` : "") + "Visit room · Clinic Meet";
}
