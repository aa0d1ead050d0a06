"""Chat in the visit room when a message does not get through: the sender's page says so, and
Retry sends it again (the server's side of it is in tests/consumers/test_room_outages.py)."""

import json

import pytest

from tests.e2e.visit import TIMEOUT, sign_in

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("media_mode", ["p2p"], indirect=True)  # chat is the same in both
def test_a_chat_message_not_sent_shows_not_sent_and_retry_sends_it(live_clinic, browser):
    patient = sign_in(browser, live_clinic, "hanako", "patient-demo-pass")
    room_path = patient.get_attribute("a:has-text('Join')", "href")
    patient.goto(live_clinic + room_path)
    patient.click("#join-button")
    patient.wait_for_selector("#waiting:not([hidden])")

    doctor = sign_in(browser, live_clinic, "dr.tanaka", "doctor-demo-pass")
    refused = []

    def refuse_the_first_chat(socket) -> None:
        """Between the doctor's page and the server: the first chat frame is answered as the
        server answers one it could not store (Redis or the database away), and goes no
        further; every other frame passes both ways."""
        server = socket.connect_to_server()

        def from_page(message) -> None:
            frame = json.loads(message)
            if frame.get("type") == "chat" and not refused:
                refused.append(frame)
                socket.send(
                    json.dumps(
                        {
                            "type": "error",
                            "code": "not_sent",
                            "client_id": frame.get("client_id"),
                            "message": "Your message was not sent; try again.",
                        }
                    )
                )
                return
            server.send(message)

        socket.on_message(from_page)

    doctor.route_web_socket("**/ws/rooms/**", refuse_the_first_chat)
    doctor.goto(live_clinic + room_path)
    doctor.click("#join-button")
    doctor.click("#waiting-list button:has-text('Admit')", timeout=TIMEOUT)
    patient.wait_for_selector("#chat-panel:not([hidden])", timeout=TIMEOUT)

    doctor.fill("#chat-input", "Your blood tests look fine")
    doctor.press("#chat-input", "Enter")
    failed = doctor.wait_for_selector(
        ".chat__message--failed:has-text('Your blood tests look fine')", timeout=TIMEOUT
    )
    assert "Not sent — Retry" in failed.text_content()
    assert refused and refused[0]["text"] == "Your blood tests look fine"

    doctor.click(".chat__message--failed .chat__retry")
    patient.wait_for_selector(".chat__text:has-text('Your blood tests look fine')", timeout=TIMEOUT)
    # Stored: the doctor's copy now shows its time and no status; once on each page.
    doctor.wait_for_selector(
        ".chat__message--mine:not(.chat__message--failed) time", timeout=TIMEOUT
    )
    for page in (doctor, patient):
        texts = page.locator(".chat__text:has-text('Your blood tests look fine')")
        assert texts.count() == 1
    assert doctor.locator(".chat__status").count() == 0
    assert len(refused) == 1
