"""A visit on a clinic scaled out: two Daphne processes behind HAProxy (tests/live_cluster.py,
docker/haproxy-local.cfg.template), sharing one PostgreSQL database and one Redis. One process
is killed outright (SIGKILL) mid-visit, the one holding a socket of the visit: the page's socket
comes back through the proxy to the survivor, the peer-to-peer call goes on on the same
RTCPeerConnection, chat and the note go on, nothing said or written before is lost, and the dead
process's room entries are replaced (docs/scaling.md)."""

import json
import os
import secrets
import time

import pytest
import redis

from tests.e2e.visit import (
    HOOK,
    REMOTE_VIDEO_PLAYS,
    TIMEOUT,
    frames_grow,
    join_as_doctor_and_patient,
)
from tests.live_cluster import (
    LiveCluster,
    create_database,
    demo_environment,
    drop_database,
    haproxy_executable,
    seed_demo,
)
from tests.live_server import ServerDidNotStart
from tests.rooms_live.live_stack import (
    DEFAULT_POSTGRES_URL,
    DEFAULT_REDIS_URL,
    env_postgres_url,
    postgres_reachable,
)

pytestmark = pytest.mark.slow

# The issue asks for the page back within 5 s of a process dying; the test waits far longer
# (no timed tests): it prints the seconds it measured.
RECONNECT_WAIT_SECONDS = 20

NOTES = """async (method, changes) => {
    const url = JSON.parse(document.getElementById('room-config').textContent).notesUrl;
    return await (await fetch(url)).json();
}"""
SAME_PEER_CONNECTION = f"""() => {{
    const connections = {HOOK}.connections();
    return connections.length === 1 && connections[0].pc === window.peerConnectionBeforeKill;
}}"""
# The page's reconnected room entry: its socket open again, a participant id it did not have.
BACK = f"""(before) => {{
    const hook = {HOOK};
    return hook.socketOpen && hook.status === 'admitted' && !!hook.participantId
        && hook.participantId !== before;
}}"""


@pytest.fixture
def clinic_cluster(tmp_path):
    """The demo clinic on two production Daphne processes behind HAProxy; yields the cluster,
    its room state prefix and a Redis client."""
    try:
        haproxy_executable()
    except ServerDidNotStart as missing:
        pytest.fail(str(missing))
    postgres = env_postgres_url() or DEFAULT_POSTGRES_URL
    if why := postgres_reachable(postgres):
        pytest.skip(f"two server processes need a shared PostgreSQL: {why}")
    redis_url = os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL
    client = redis.Redis.from_url(redis_url, socket_connect_timeout=3)
    try:
        client.ping()
    except redis.RedisError as error:
        pytest.skip(f"two server processes need a shared Redis ({redis_url}): {error}")
    name = f"clinic_meet_scale_e2e_{secrets.token_hex(4)}"
    prefix = f"scale-e2e:{secrets.token_hex(4)}:"  # every key of this test's, deleted after it
    database_url = create_database(postgres, name)
    try:
        env = demo_environment(
            database_url,
            redis_url,
            ROOM_STATE_KEY_PREFIX=f"{prefix}room:",
            CHANNEL_LAYER_KEY_PREFIX=f"{prefix}asgi",
            CACHE_KEY_PREFIX=f"{prefix}cache",
            ICE_SERVERS="stun:127.0.0.1:9",  # nothing external; host candidates do the work
        )
        seed_demo(env)
        with LiveCluster(env, tmp_path, processes=2) as cluster:
            yield cluster, f"{prefix}room:", client
    finally:
        drop_database(postgres, name)
        for key in client.scan_iter(match=f"{prefix}*", count=500):
            client.delete(key)
        client.close()


def _send_chat(page, text: str) -> None:
    page.fill("#chat-input", text)
    page.press("#chat-input", "Enter")


def _chat_count(page, text: str) -> int:
    return page.locator(f".chat__text:has-text('{text}')").count()


def test_a_killed_process_costs_the_visit_nothing_but_a_reconnect(clinic_cluster, browser):
    cluster, room_prefix, client = clinic_cluster
    base = cluster.http_url
    doctor, patient, room_path = join_as_doctor_and_patient(browser, base)
    doctor.click("#waiting-list button:has-text('Admit')")
    doctor.wait_for_selector("#visit-status:text-is('In progress')", timeout=TIMEOUT)
    pages = {"doctor": doctor, "patient": patient}
    for page in pages.values():
        page.wait_for_function(REMOTE_VIDEO_PLAYS, timeout=TIMEOUT)
        frames_grow(page)

    _send_chat(doctor, "Before the kill, from the doctor")
    patient.wait_for_selector(".chat__text:has-text('Before the kill, from')", timeout=TIMEOUT)
    _send_chat(patient, "Before the kill, from the patient")
    doctor.wait_for_selector(".chat__text:has-text('Before the kill, from the p')", timeout=TIMEOUT)
    doctor.fill("#note-subjective", "Typed before the kill.")
    doctor.wait_for_function(
        "() => document.getElementById('notes-status').textContent.startsWith('Saved')",
        timeout=TIMEOUT,
    )

    # The two sockets are the only connections open now (leastconn puts them on different
    # processes); kill the one holding the most, never a process holding none.
    held = cluster.connections()
    victim_name = max(held, key=held.get)
    assert held[victim_name] >= 1, held
    victim = [name for name, _ in cluster.named()].index(victim_name)
    before = {}
    for role, page in pages.items():
        before[role] = page.evaluate(f"() => {HOOK}.participantId")
        page.evaluate(f"() => {{ window.peerConnectionBeforeKill = {HOOK}.connections()[0].pc; }}")

    killed_at = time.monotonic()
    cluster.kill(victim)
    # Every page whose socket the dead process held comes back on a new room entry.
    back_after: dict[str, float] = {}
    deadline = killed_at + RECONNECT_WAIT_SECONDS
    while time.monotonic() < deadline:
        for role, page in pages.items():
            if role not in back_after and page.evaluate(BACK, before[role]):
                back_after[role] = round(time.monotonic() - killed_at, 2)
        if len(back_after) >= held[victim_name] and all(
            page.evaluate(f"() => {HOOK}.socketOpen") for page in pages.values()
        ):
            break
        time.sleep(0.05)
    print(
        f"\nkilled {victim_name} holding {held[victim_name]} socket(s): back after {back_after} s"
    )
    assert len(back_after) == held[victim_name], (back_after, held, cluster.status())
    survivor = next(name for name in held if name != victim_name)
    assert cluster.connections()[survivor] == 2, cluster.connections()
    # The proxy's health checks take the dead process out (the reconnect did not wait for them:
    # a refused connection is tried again on the other process, `option redispatch`).
    while not cluster.status()[victim_name].startswith("DOWN") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert cluster.status()[victim_name].startswith("DOWN"), cluster.status()

    # The call was not interrupted: the same RTCPeerConnection on both sides, video still coming.
    for page in pages.values():
        assert page.evaluate(SAME_PEER_CONNECTION)
        frames_grow(page)

    # Signaling goes on through the survivor, and nothing said before is lost.
    _send_chat(patient, "After the kill, from the patient")
    doctor.wait_for_selector(".chat__text:has-text('After the kill, from the p')", timeout=TIMEOUT)
    _send_chat(doctor, "After the kill, from the doctor")
    patient.wait_for_selector(".chat__text:has-text('After the kill, from the d')", timeout=TIMEOUT)
    for page in pages.values():
        for text in ("Before the kill, from the doctor", "Before the kill, from the patient"):
            assert _chat_count(page, text) == 1
    # ... and stays in the history: a page opened now loads all four from the database.
    patient.reload()  # a reloaded page rejoins by itself (main.js)
    patient.wait_for_function(BACK, arg=before["patient"], timeout=TIMEOUT)
    for text in ("Before the kill, from the", "After the kill, from the"):
        patient.wait_for_selector(f".chat__text:has-text('{text} doctor')", timeout=TIMEOUT)
        patient.wait_for_selector(f".chat__text:has-text('{text} patient')", timeout=TIMEOUT)

    # The note: what was saved before the kill and what is typed after it are both stored.
    doctor.fill("#note-objective", "Typed after the kill.")
    doctor.wait_for_function(
        "() => document.getElementById('notes-status').textContent.startsWith('Saved')",
        timeout=TIMEOUT,
    )
    stored = doctor.evaluate(NOTES)
    assert stored["subjective"] == "Typed before the kill."
    assert stored["objective"] == "Typed after the kill."

    # Nothing stale: the room holds exactly the two entries the pages have now.
    room = room_path.strip("/").split("/")[-1].replace("-", "")
    entries = [json.loads(entry) for entry in client.hvals(f"{room_prefix}{room}:participants")]
    now = {page.evaluate(f"() => {HOOK}.participantId") for page in pages.values()}
    assert {entry["participant_id"] for entry in entries} == now, entries
    assert sorted(entry["role"] for entry in entries) == ["doctor", "patient"]
    assert cluster.servers[1 - victim].errors() == [], cluster.servers[1 - victim].log_tail()
