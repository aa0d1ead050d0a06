// Reading a room.state's `recording` object (docs/protocol.md) for one person: what their page
// shows (the consent dialog, the "● Recording 01:23" indicator, which buttons, the doctor's
// "Declined by Ann" notice), what it announces, and whether this page records. Pure: no DOM.
//
// The visit's live transcription has an object of the same shape under the same consent rule
// (room.state's `transcription`): every reading below takes the capture's words (`words`,
// RECORDING_WORDS by default), and transcript/consent-state.js gives the transcription's.

export const OFF = "off";
export const PENDING = "pending";
export const ON = "on";
export const PAUSED = "paused";

const NOTHING = Object.freeze({
  state: OFF,
  id: null,
  requested_by: null,
  allowed: [],
  waiting_for: [],
  seconds: 0,
  ended: null,
});

// What a capture is called in what the page says: the noun ("Recording"), the indicator's word
// while it is on, the verb ("record"), the dialog's question.
export const RECORDING_WORDS = Object.freeze({
  noun: "Recording",
  active: "Recording",
  verb: "record",
  asks: (doctor) => `${doctor} would like to record this visit for your medical record.`,
});

// The capture object `key` of a room.state, whatever the server sent (an older server says
// `false`, or nothing): always a complete object.
export function captureOf(state, key) {
  const capture = state?.[key];
  if (!capture || typeof capture !== "object") return NOTHING;
  return { ...NOTHING, ...capture };
}

export function recordingOf(state) {
  return captureOf(state, "recording");
}

// Elapsed time as the indicator shows it: "00:12", "01:23", "1:02:03".
export function formatElapsed(seconds) {
  const whole = Math.max(0, Math.floor(seconds || 0));
  const two = (n) => String(n).padStart(2, "0");
  const hours = Math.floor(whole / 3600);
  const minutes = Math.floor((whole % 3600) / 60);
  const rest = whole % 60;
  return hours ? `${hours}:${two(minutes)}:${two(rest)}` : `${two(minutes)}:${two(rest)}`;
}

// The time it has been on `sinceFrameMs` after the frame that said `recording.seconds`
// arrived: counting on while it is on, standing still otherwise.
export function elapsedSeconds(recording, sinceFrameMs) {
  const base = recording.seconds || 0;
  return recording.state === ON ? base + Math.max(0, sinceFrameMs) / 1000 : base;
}

function nameOf(userId, participants, me) {
  if (userId === me.userId) return "you";
  return participants.find((p) => p.user_id === userId)?.display_name || "someone who left";
}

function names(userIds, participants, me) {
  const all = userIds.map((id) => nameOf(id, participants, me));
  if (all.length <= 1) return all.join("");
  return `${all.slice(0, -1).join(", ")} and ${all.at(-1)}`;
}

// What the latest ended capture says, in words (null when none ended yet).
export function endedNotice(ended, me, words = RECORDING_WORDS) {
  if (!ended) return null;
  const by = ended.by ? (ended.by.user_id === me.userId ? "you" : ended.by.display_name) : null;
  const { noun } = words;
  switch (ended.reason) {
    case "declined":
      return by ? `${noun} declined by ${by}.` : `${noun} declined.`;
    case "withdrawn":
      return by ? `${noun} stopped: ${by} withdrew consent.` : `${noun} stopped: consent withdrawn.`;
    case "stopped":
      return by ? `${noun} stopped by ${by}.` : `${noun} stopped.`;
    case "left":
      return `${noun} stopped: the doctor left the call.`;
    case "visit_ended":
      return `${noun} stopped: the visit ended.`;
    case "idle":
      return `${noun} stopped: nothing reached the server for too long.`;
    default:
      return `${noun} stopped.`;
  }
}

// What one page shows for `recording` (from recordingOf). `me`: {userId, role};
// `participants`: the room.state's, for names.
export function recordingView(recording, me, participants = [], words = RECORDING_WORDS) {
  const { noun } = words;
  const { state } = recording;
  const live = state !== OFF;
  const requester = recording.requested_by;
  const iRequested = live && requester?.user_id === me.userId;
  const asked = (state === PENDING || state === PAUSED) && recording.waiting_for.includes(me.userId);
  const iAllowed = recording.allowed.includes(me.userId);
  let indicator = null;
  if (state === ON) indicator = { kind: ON, label: words.active };
  else if (state === PAUSED) indicator = { kind: PAUSED, label: `${noun} paused` };
  let waiting = null;
  if ((state === PENDING || state === PAUSED) && recording.waiting_for.length && !asked) {
    waiting = `Waiting for ${names(recording.waiting_for, participants, me)} to allow ${noun.toLowerCase()}…`;
  }
  return {
    state,
    id: recording.id,
    indicator,
    dialog: asked
      ? {
          recordingId: recording.id,
          text: words.asks(requester?.display_name || "The doctor"),
        }
      : null,
    waiting,
    canRequest: me.role === "doctor" && !live,
    // Anyone may stop it; whoever is being asked answers in the dialog instead.
    canStop: live && !asked,
    canWithdraw: live && !asked && !iRequested && iAllowed,
    notice: live ? null : endedNotice(recording.ended, me, words),
    // The page that captures and uploads is the requesting doctor's: it records while on.
    ours: iRequested,
    records: iRequested && state === ON,
  };
}

// What a screen reader hears when the recording's state changes (null: nothing to say).
export function announcement(previous, current, me, words = RECORDING_WORDS) {
  if (previous.state === current.state && previous.id === current.id) return null;
  const { noun, verb } = words;
  switch (current.state) {
    case ON:
      return previous.state === PAUSED && previous.id === current.id ? `${noun} resumed` : `${noun} started`;
    case PAUSED:
      return `${noun} paused`;
    case PENDING:
      return current.requested_by?.user_id === me.userId
        ? `${noun} requested; waiting for consent`
        : `${current.requested_by?.display_name || "The doctor"} asks to ${verb} this visit`;
    default:
      if (previous.state === OFF) return null;
      if (previous.state === PENDING) return endedNotice(current.ended, me, words) || `${noun} request ended`;
      return `${noun} stopped`;
  }
}
