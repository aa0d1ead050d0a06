// Every page's session script (templates/base.html). After a sign-out (the login page carries
// the server's signed-out message) it clears the note drafts this browser kept; on a signed-in
// page it runs the automatic logoff's warning (timeout.js) and clears the drafts on "Sign out".

import { clearNoteDrafts } from "./note-drafts.js";
import { SessionTimeout } from "./timeout.js";

if (document.querySelector("[data-signed-out]")) clearNoteDrafts();

// The portal's sign-out form, or the admin's.
const logoutForm = document.querySelector(".account__logout, #logout-form");
logoutForm?.addEventListener("submit", () => clearNoteDrafts());

const dialog = document.getElementById("session-timeout");
if (dialog && logoutForm) {
  const secondsText = document.getElementById("session-timeout-seconds");
  let countdown = null;
  const warning = {
    show(deadline) {
      const tick = () => {
        secondsText.textContent = String(Math.max(0, Math.ceil((deadline - Date.now()) / 1000)));
      };
      tick();
      clearInterval(countdown);
      countdown = setInterval(tick, 1000);
      if (!dialog.open) {
        dialog.showModal();
        document.getElementById("session-stay").focus();
      }
    },
    hide() {
      clearInterval(countdown);
      if (dialog.open) dialog.close();
    },
  };
  const timeout = new SessionTimeout({
    statusUrl: dialog.dataset.statusUrl,
    keepAliveUrl: dialog.dataset.keepAliveUrl,
    csrfToken: logoutForm.querySelector("[name=csrfmiddlewaretoken]").value,
    // The visit room marks the body while the page is in the visit (static/js/room/main.js).
    busy: () => document.body.dataset.inVisit === "true",
    warning,
    signedOut: () => {
      clearNoteDrafts();
      const next = location.pathname + location.search;
      location.assign(`${dialog.dataset.loginUrl}?next=${encodeURIComponent(next)}`);
    },
  });
  document.getElementById("session-stay").addEventListener("click", () => timeout.stay());
  // Escape would close the dialog without an answer: it means "stay", as the button does.
  dialog.addEventListener("cancel", (event) => {
    event.preventDefault();
    timeout.stay();
  });
  timeout.start();
}
