"""What a doctor and a patient do in the visit room, as steps the browser tests share."""

import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-results" / "e2e"
REMOTE_VIDEO_PLAYS = (
    "() => [...document.querySelectorAll('.video--remote')].some(v => v.videoWidth > 0)"
)
# The room page's test hook (static/js/room/test-hook.js, docs/room-page.md): the tests read the
# page through it, never through its internals.
HOOK = "window.clinicMeetTestHook"
FRAMES_DECODED = """async () => {
  let frames = 0;
  for (const { pc } of window.clinicMeetTestHook.connections()) {
    (await pc.getStats()).forEach(r => {
      if (r.type === 'inbound-rtp' && r.kind === 'video') frames += r.framesDecoded || 0;
    });
  }
  return frames;
}"""
TIMEOUT = 30_000
# Every page the tests sign in to notes what the Content-Security-Policy refused: the document's
# securitypolicyviolation events, and Chromium's console report (which workers' refusals reach).
CSP_WATCH = """
window.clinicMeetCspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.clinicMeetCspViolations.push(
    `${event.effectiveDirective} refused ${event.blockedURI} ` +
      `(${event.sourceFile}:${event.lineNumber})`
  );
});
"""


def csp_violations(page) -> list[str]:
    """What the policy refused on this page since it loaded, and in its console since sign-in."""
    return page.evaluate("() => window.clinicMeetCspViolations") + page.csp_console


def join_as_doctor_and_patient(browser, base):
    doctor = sign_in(browser, base, "dr.tanaka", "doctor-demo-pass")
    patient = sign_in(browser, base, "hanako", "patient-demo-pass")
    room_path = patient.get_attribute("a:has-text('Join')", "href")
    assert room_path and room_path.startswith("/visits/")
    patient.goto(base + room_path)
    patient.click("#join-button")
    patient.wait_for_selector("#waiting:not([hidden])")
    assert "will let you in shortly" in patient.text_content("#waiting")
    doctor.goto(base + room_path)
    doctor.click("#join-button")
    doctor.wait_for_selector("#waiting-list button:has-text('Admit')", timeout=TIMEOUT)
    assert "(1 waiting)" in doctor.title()
    return doctor, patient, room_path


def doctor_admits_the_patient(browser, base: str, room_path: str):
    """Dr. Tanaka signs in, joins the room and admits the waiting patient; returns their page."""
    doctor = sign_in(browser, base, "dr.tanaka", "doctor-demo-pass")
    doctor.goto(base + room_path)
    doctor.click("#join-button")
    doctor.click("#waiting-list button:has-text('Admit')", timeout=TIMEOUT)
    return doctor


def wait_until(page, predicate: str, arg=None, timeout: int = TIMEOUT):
    """Polls `predicate` (JS, may be async) until it returns something truthy. Playwright's
    wait_for_function takes only synchronous predicates: a Promise counts as truthy at once."""
    deadline = time.monotonic() + timeout / 1000
    while True:
        value = page.evaluate(predicate, arg)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still {value!r} after {timeout} ms: {predicate}")
        time.sleep(0.1)


def drop_socket_and_wait_for_a_new_entry(page, status: str | None = None):
    """The page's WebSocket drops as on a network failure; waits until the page is back in the
    room on a new connection (a new participant id, so nothing stale passes), and, when
    given, with `status` there."""
    before = page.evaluate(f"() => {HOOK}.participantId")
    assert before
    page.evaluate(f"() => {HOOK}.dropSocket()")
    page.wait_for_function(
        """([before, status]) => {
            const hook = window.clinicMeetTestHook;
            return hook.socketOpen && hook.participantId && hook.participantId !== before
                && (status === null || hook.status === status);
        }""",
        arg=[before, status],
        timeout=TIMEOUT,
    )


def frames_grow(page, by: int = 5):
    """Video keeps arriving: the decoded-frame count climbs by `by` more frames."""
    first = page.evaluate(FRAMES_DECODED)
    wait_until(page, f"async () => (await ({FRAMES_DECODED})()) >= {first + by}")


def watched_page(browser, name: str):
    """A page of a context of its own that notes what the policy refuses (csp_violations) and
    prints its errors and warnings, labelled with `name`."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.add_init_script(CSP_WATCH)
    page = context.new_page()
    page.csp_console = []
    page.on(
        "console",
        lambda message: (
            "Content Security Policy" in message.text and page.csp_console.append(message.text)
        ),
    )
    page.on("pageerror", lambda error: print(f"[{name}] page error: {error}"))
    page.on(
        "console",
        lambda message: (
            message.type in {"warning", "error"}
            and print(f"[{name}] console {message.type}: {message.text}")
        ),
    )
    return page


def sign_in(browser, base: str, username: str, password: str):
    page = watched_page(browser, username)
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")
    return page


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
