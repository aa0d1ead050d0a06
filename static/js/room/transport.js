// The media transport: how our camera and microphone reach the others in the call and theirs
// reach us. Two implement it, and the call stage uses nothing else, so it never asks which
// one it has:
//
//   PeerTransport (peer-transport.js): one RTCPeerConnection per other participant, signaled
//     over the room's WebSocket (the default);
//   CallsTransport (calls-transport.js): two connections to Cloudflare Calls, reached only
//     through the room-scoped proxy (when the clinic set CALLS_APP_ID / CALLS_APP_SECRET).
//
// The interface (both extend EventTarget):
//
//   sync(others)          the admitted others of the latest room.state: connect to newcomers,
//                         let go of leavers after the leave grace. Returns a promise that
//                         rejects (with a message for people) when video cannot start at all.
//   entered()             the room socket made a new room entry (a connection or reconnection):
//                         tell the room what a new entry must say.
//   signal(sender, data)  a `signal` frame from `sender` (a participant).
//   forget(participant)   the doctor sent them away: drop their media now, with no grace.
//   replaceVideo(track)   send this video track instead (camera <-> screen; null for none).
//   mediaOf(userId)       the MediaStream we hold of that participant, or null.
//   remoteCount           how many participants' media we hold.
//   receivingConnections() the RTCPeerConnections remote media arrives on (for the stats).
//   connections()         every connection, as {pc, iceRestarts, trace} (support, test hook).
//   close()               hang up.
//
//   event "media"         {detail: {userId, stream}}: a participant's media arrived or changed.
//
// Both are made with the same context: {iceServers, limits, local, send, frames, polite,
// myUserId}, where `local` holds our camera and microphone (`stream`) and screen (`screen`),
// `send` sends a client frame on the room socket, `frames` are the client frame types from
// the config, `polite` is true for the side that yields in negotiation (the patient), and
// `myUserId()` is our user id once the room told it.

import { CallsTransport } from "./calls-transport.js";
import { PeerTransport } from "./peer-transport.js";

export function createTransport(config, context) {
  return config.callsUrl
    ? new CallsTransport({ ...context, callsUrl: config.callsUrl })
    : new PeerTransport(context);
}
