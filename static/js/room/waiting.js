// The patient's virtual waiting room, until the doctor lets them in.

import { $ } from "./dom.js";

export function enterWaitingRoom(stream) {
  $("waiting-self").srcObject = stream;
}

// Whom the patient waits for (a waiting patient's room.state lists only the doctor).
export function showWaitingFor(participants) {
  const doctor = participants.find((p) => p.role === "doctor");
  $("waiting-doctor").textContent = doctor ? doctor.display_name : "Your doctor";
}
