"""The visit room's rules: the waiting room, admission, signaling, chat and the consent to record
or transcribe (who may enter is rooms.selectors.room_access_get; the consent rule is
rooms.consent.rules, and each capture's own rules are in its app).

The consumer only moves frames; everything it does goes through these functions, which keep
the shared room state (rooms.state) and tell the room's members through the channel layer.
"""

import asyncio
import contextlib
import logging
import secrets
import time
from dataclasses import dataclass

from channels.db import database_sync_to_async
from channels.exceptions import ChannelFull
from channels.layers import get_channel_layer
from django.conf import settings

from clinic.errors import ApplicationError
from rooms.calls.sessions import close_sessions_of
from rooms.consent.models import CaptureConsent
from rooms.consent.rules import CaptureRules
from rooms.models import ChatMessage, VisitEncryption
from rooms.protocol import (
    CloseCode,
    ConsentDecision,
    MlsKind,
    ProtocolError,
    RoomClosed,
    ServerFrame,
)
from rooms.recordings.selectors import recording_live_get
from rooms.recordings.services.consent import RECORDING_RULES
from rooms.selectors import RoomAccess, audio_group, visit_encryption_get
from rooms.state import ADMITTED, WAITING, Participant, get_room_state_store
from rooms.transcripts.live import transcription_live_get
from rooms.transcripts.services.consent import TRANSCRIPTION_RULES
from visits.models import AccessLogEntry, Appointment, Role, User
from visits.services import appointment_transition, record_access

logger = logging.getLogger(__name__)

CHAT_HISTORY = 50
# A broadcast the channel layer refuses (Redis away, or a connection it dropped) is retried in
# the background this long: what it announces is stored already, and sockets cut off longer
# than this reconnect (UNAVAILABLE) and read the room afresh ...
GROUP_SEND_RETRY_SECONDS = 60.0
# ... while the frame that caused it waits for it at most this long.
GROUP_SEND_WAIT_SECONDS = 2.0
# Room state outlives the join window a little, then Redis forgets it by itself.
STATE_GRACE_SECONDS = 15 * 60


def _transition_quietly(user_id: int, appointment_id: int, action: str) -> None:
    """Record what happened in the visit on the appointment, when its status allows it."""
    # E.g. already in progress after a reconnect: the room goes on regardless.
    with contextlib.suppress(ApplicationError):
        appointment_transition(
            user=User.objects.get(pk=user_id), appointment_id=appointment_id, action=action
        )


_transition = database_sync_to_async(_transition_quietly)


async def _announced_change(access: RoomAccess) -> int | None:
    """Count a change the room's members are about to be told of; its number. A connection
    that saw an older count has missed an event (the channel layer's pub/sub keeps nothing for
    a process that was reconnecting to Redis), and reads the room afresh (room_version)."""
    try:
        return await get_room_state_store().bump_version(access.room)
    except Exception as error:
        # The change itself is stored; its broadcast still goes (and is retried).
        logger.warning("room version not counted (%r)", error)
        return None


async def room_version(access: RoomAccess) -> int:
    return await get_room_state_store().version(access.room)


async def broadcast_changed(access: RoomAccess) -> None:
    """Tell the room's members that it changed (each reads it afresh), counted first."""
    await _announced_change(access)
    await _group_send(access.group, {"type": "room.changed"})
    # The doctor's audio socket, if any, checks that the transcription is still on.
    await _group_send(audio_group(access.room), {"type": "audio.check"})


# Broadcasts under way; held so that the event loop does not drop them half done.
_broadcasts: set[asyncio.Task] = set()


async def _group_send(group: str, event: dict) -> None:
    """Send `event` to the group, retrying through a channel-layer failure in the background
    (GROUP_SEND_RETRY_SECONDS) instead of failing the frame that caused it. Waits for the
    broadcast up to GROUP_SEND_WAIT_SECONDS, so it normally goes out before the caller's answer
    to its own client: the order every member sees is the same."""
    task = asyncio.create_task(_group_send_retrying(group, event))
    _broadcasts.add(task)
    task.add_done_callback(_broadcasts.discard)
    await asyncio.wait({task}, timeout=GROUP_SEND_WAIT_SECONDS)


async def _group_send_retrying(group: str, event: dict) -> None:
    deadline = time.monotonic() + GROUP_SEND_RETRY_SECONDS
    delay = 0.1
    while True:
        try:
            await get_channel_layer().group_send(group, event)
            return
        except Exception as error:
            if time.monotonic() + delay > deadline:
                logger.error("%s to %s given up: %r", event["type"], group, error)
                return
            logger.warning("%s to %s failed (%r); retrying", event["type"], group, error)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


async def join(access: RoomAccess, channel_name: str) -> Participant:
    """Enter the room: doctors go straight in; a patient waits unless admitted before."""
    store = get_room_state_store()
    admitted = access.role == Role.DOCTOR or await store.is_admitted(access.room, access.user_id)
    participant = Participant(
        participant_id=secrets.token_urlsafe(9),
        user_id=access.user_id,
        display_name=access.display_name,
        role=str(access.role),
        status=ADMITTED if admitted else WAITING,
        channel_name=channel_name,
    )
    # One entry per person: a reconnect replaces the connection it left behind.
    for earlier in await store.add(access.room, participant, time.time()):
        await get_channel_layer().send(earlier.channel_name, {"type": "room.replaced"})
    await store.expire(access.room, int(access.closes_at - time.time()) + STATE_GRACE_SECONDS)
    if admitted:
        try:
            await _captures_admitted(access.appointment_id, access.user_id)
        except Exception:
            # Nobody is in the call unless the recording was paused for them if need be.
            await store.remove(access.room, participant.participant_id)
            raise
    await get_channel_layer().group_add(access.group, channel_name)
    if access.role == Role.PATIENT and not admitted:
        await _transition(access.user_id, access.appointment_id, "check_in")
    await broadcast_changed(access)
    return participant


async def leave(access: RoomAccess, participant_id: str, channel_name: str) -> None:
    await get_channel_layer().group_discard(access.group, channel_name)
    if await get_room_state_store().remove(access.room, participant_id):
        await broadcast_changed(access)
        left_at = _latest_leave[(access.room, access.user_id)] = time.monotonic()
        _in_background(_gone_unless_back(access, left_at))


# Tasks started by leave(), kept so that they are not collected before they finish.
_background: set[asyncio.Task] = set()
# When each (room, user) last left through this process: only the latest leave's grace counts.
_latest_leave: dict[tuple[str, int], float] = {}


def _in_background(coroutine) -> None:
    task = asyncio.ensure_future(coroutine)
    _background.add(task)
    task.add_done_callback(_background.discard)


async def _gone_unless_back(access: RoomAccess, left_at: float) -> None:
    """A reload or a dropped socket comes back within moments, with the same Calls sessions (or
    new ones) and into the same recording; someone still away after the silence timeout has
    gone: their sessions close, and the recording learns they left (the doctor's leaving stops
    it; a patient's may resume it). Should this process die meanwhile, the sessions expire with
    the room and the worker stops a recording that no chunk reaches any more (IDLE)."""
    await asyncio.sleep(settings.ROOM_SILENCE_TIMEOUT_SECONDS)
    key = (access.room, access.user_id)
    if _latest_leave.get(key) != left_at:
        return  # back and gone again since: that leave's grace decides
    del _latest_leave[key]
    participants = await get_room_state_store().participants(access.room)
    if any(p.user_id == access.user_id for p in participants):
        return
    if settings.CALLS_APP_ID:
        await close_sessions_of(access.room, access.user_id)
    try:
        await _captures_left(access, access.user_id, participants)
    except Exception as error:
        logger.warning("recording not told that %s left (%r)", access.user_id, error)


async def heard_from(access: RoomAccess, participant_id: str) -> None:
    await get_room_state_store().touch(access.room, participant_id, time.time())


async def drop_silent(access: RoomAccess) -> int:
    """Forget participants nobody has heard from within the timeout (a crashed browser, a killed
    server process); any member's connection may do it, and only one removal counts."""
    store = get_room_state_store()
    cutoff = time.time() - settings.ROOM_SILENCE_TIMEOUT_SECONDS
    dropped = []
    for participant_id in await store.silent_since(access.room, cutoff):
        silent = await store.get(access.room, participant_id)
        if await store.remove(access.room, participant_id):
            dropped.append(silent)
            # Silent for the whole timeout: no live connection is coming back for these.
            if silent is not None:
                await close_sessions_of(access.room, silent.user_id)
    for silent in dropped:
        if silent is not None:
            await _captures_left(access, silent.user_id, await store.participants(access.room))
    if dropped:
        await broadcast_changed(access)
    return len(dropped)


async def _require_member(access: RoomAccess, participant_id: str) -> Participant:
    me = await get_room_state_store().get(access.room, participant_id)
    if me is None:
        raise RoomClosed(CloseCode.TIMED_OUT, "You are no longer in the room; reconnect.")
    return me


async def _require_admitted(access: RoomAccess, participant_id: str) -> Participant:
    me = await _require_member(access, participant_id)
    if me.status != ADMITTED:
        raise ProtocolError("forbidden", "Wait until the doctor lets you in.")
    return me


async def _waiting_patient(access: RoomAccess, doctor_pid: str, target_pid: str) -> Participant:
    await _require_doctor(access, doctor_pid)
    target = await get_room_state_store().get(access.room, target_pid)
    if target is None:
        raise ProtocolError("not_found", "No such participant in this room.")
    if target.role != Role.PATIENT or target.status != WAITING:
        raise ProtocolError("conflict", "That participant is not waiting to be let in.")
    return target


async def _require_doctor(access: RoomAccess, participant_id: str) -> Participant:
    me = await _require_member(access, participant_id)
    if me.role != Role.DOCTOR:
        raise ProtocolError("forbidden", "Only the doctor can do that.")
    return me


async def admit(access: RoomAccess, doctor_pid: str, target_pid: str) -> None:
    """Let a waiting patient in; remembered for the visit, so a reconnect skips the wait."""
    target = await _waiting_patient(access, doctor_pid, target_pid)
    store = get_room_state_store()
    await store.admit_user(access.room, target.user_id)
    await store.update(access.room, target_pid, status=ADMITTED)
    try:
        # After the admission is stored, so that a recording asked for meanwhile sees it.
        await _captures_admitted(access.appointment_id, target.user_id)
    except Exception:
        # Not let in unless a recording that is on was paused for them first.
        await store.update(access.room, target_pid, status=WAITING)
        await store.revoke_user(access.room, target.user_id)
        raise
    await _transition(access.user_id, access.appointment_id, "start")
    await broadcast_changed(access)


async def deny(access: RoomAccess, doctor_pid: str, target_pid: str) -> None:
    target = await _waiting_patient(access, doctor_pid, target_pid)
    await _send_away(access, target, "room.denied")
    await close_sessions_of(access.room, target.user_id)
    await _captures_left(access, target.user_id)


async def remove(access: RoomAccess, doctor_pid: str, target_pid: str) -> None:
    await _require_doctor(access, doctor_pid)
    target = await get_room_state_store().get(access.room, target_pid)
    if target is None:
        raise ProtocolError("not_found", "No such participant in this room.")
    if target.participant_id == doctor_pid:
        raise ProtocolError("conflict", "Use 'end' to finish the visit.")
    await get_room_state_store().revoke_user(access.room, target.user_id)
    await _send_away(access, target, "room.removed")
    # Every session they hold here, not only the one announced: nothing of theirs plays on.
    await close_sessions_of(access.room, target.user_id)
    # Not coming back by themselves (they would wait again): no leave grace.
    await _captures_left(access, target.user_id)


async def _send_away(access: RoomAccess, target: Participant, event: str) -> None:
    if await get_room_state_store().remove(access.room, target.participant_id):
        await get_channel_layer().send(target.channel_name, {"type": event})
        await broadcast_changed(access)


async def end(access: RoomAccess, doctor_pid: str) -> None:
    """Finish the visit: the appointment is completed and everyone's socket closes."""
    await _require_doctor(access, doctor_pid)
    await _visit_ended(access)
    await _transition(access.user_id, access.appointment_id, "complete")
    await get_channel_layer().group_send(access.group, {"type": "room.ended"})
    await close_sessions_of(access.room)
    await get_room_state_store().clear(access.room)


def relay_target(members: "RoomMembers", sender_pid: str, to: str) -> Participant:
    """Who a `signal` frame goes to: an admitted participant other than its admitted sender.

    Read from the members the sender's connection was last told of (view_for, refreshed on
    every room.changed), so relaying a frame reads no shared state; the recipient's connection
    checks again that it is admitted (the consumer's room_signal)."""
    me = members.get(sender_pid)
    if me is None:
        raise RoomClosed(CloseCode.TIMED_OUT, "You are no longer in the room; reconnect.")
    if me.status != ADMITTED:
        raise ProtocolError("forbidden", "Wait until the doctor lets you in.")
    target = members.get(to)
    if target is None or target.status != ADMITTED or to == sender_pid:
        raise ProtocolError("not_found", "No admitted participant with that id.")
    return target


async def relay_signal(members: "RoomMembers", sender_pid: str, to: str, data_json: str) -> None:
    """Pass SDP/ICE to one admitted participant, with one channel-layer send; `from` is set
    here, never by the client."""
    target = relay_target(members, sender_pid, to)
    try:
        await get_channel_layer().send(
            target.channel_name,
            {"type": "room.signal", "from": sender_pid, "data_json": data_json},
        )
    except ChannelFull:
        raise ProtocolError("busy", "That participant is not keeping up; try again.") from None


# --- End-to-end encryption: the switch, and the server as MLS's delivery service -------------

_visit_encryption = database_sync_to_async(visit_encryption_get)


@database_sync_to_async
def _turn_on_encryption(access: RoomAccess) -> None:
    VisitEncryption.objects.get_or_create(
        appointment_id=access.appointment_id, defaults={"turned_on_by_id": access.user_id}
    )


async def turn_on_e2ee(access: RoomAccess, participant_id: str) -> None:
    """The doctor puts this visit's media under end-to-end encryption (E2EE=optional)."""
    await _require_doctor(access, participant_id)
    encryption = await _visit_encryption(appointment_id=access.appointment_id)
    if encryption["mode"] == "off":
        raise ProtocolError("e2ee_off", "End-to-end encryption is turned off for this clinic.")
    if not encryption["on"]:
        await _turn_on_encryption(access)
        await broadcast_changed(access)


def _mls_recipients(
    kind: MlsKind, sender: Participant, to: str | None, admitted: list[Participant]
) -> list[Participant]:
    """Who an MLS message goes to, by its kind: the doctor commits; everyone else joins."""
    others = [p for p in admitted if p.participant_id != sender.participant_id]
    if kind == MlsKind.KEY_PACKAGE:
        if sender.role == Role.DOCTOR:
            raise ProtocolError(
                "forbidden", "The doctor makes the group; members send key packages."
            )
        recipients = [p for p in others if p.role == Role.DOCTOR]
        if not recipients:
            raise ProtocolError("not_found", "The doctor is not in the call yet.")
        return recipients
    if sender.role != Role.DOCTOR:
        raise ProtocolError("forbidden", "Only the doctor sends commits and welcomes.")
    if kind == MlsKind.WELCOME:
        recipients = [p for p in others if p.participant_id == to]
        if not recipients:
            raise ProtocolError("not_found", "No admitted participant with that id.")
        return recipients
    return others


async def relay_mls(
    view: "RoomView", sender_pid: str, kind: MlsKind, data: str, to: str | None
) -> None:
    """Pass an MLS message on to the admitted participants its kind names (_mls_recipients),
    as the sender's connection last saw the room (view_for).

    The server never reads, keeps or changes it: the browsers' MLS group authenticates every
    message, so all a server could do is drop one. A waiting patient is never sent one (the
    recipient's connection checks again: the consumer's room_mls)."""
    sender = view.members.get(sender_pid)
    if sender is None:
        raise RoomClosed(CloseCode.TIMED_OUT, "You are no longer in the room; reconnect.")
    if sender.status != ADMITTED:
        raise ProtocolError("forbidden", "Wait until the doctor lets you in.")
    if not view.state["e2ee"]["on"]:
        raise ProtocolError("e2ee_off", "End-to-end encryption is not on for this visit.")
    admitted = [p for p in view.members.values() if p.status == ADMITTED]
    event = {"type": "room.mls", "from": sender_pid, "kind": kind.value, "data": data}
    for recipient in _mls_recipients(kind, sender, to, admitted):
        try:
            await get_channel_layer().send(recipient.channel_name, event)
        except ChannelFull:
            raise ProtocolError("busy", "That participant is not keeping up; try again.") from None


async def update_media(access: RoomAccess, participant_id: str, flags: dict) -> None:
    await _require_member(access, participant_id)
    await get_room_state_store().update(access.room, participant_id, **flags)
    await broadcast_changed(access)


async def update_tracks(
    access: RoomAccess, participant_id: str, session_id: str, tracks: list
) -> None:
    await _require_admitted(access, participant_id)
    owner = await get_room_state_store().calls_session_owner(access.room, session_id)
    if owner != access.user_id:
        raise ProtocolError("forbidden", "That Calls session is not yours.")
    await get_room_state_store().update(
        access.room, participant_id, session_id=session_id, tracks=tracks
    )
    await broadcast_changed(access)


def _chat_frame(message: ChatMessage, names: dict[int, tuple[str, str]]) -> dict:
    name, role = names.get(message.sender_id, (message.sender.display_name, ""))
    return {
        "type": ServerFrame.CHAT.value,
        "id": message.pk,
        "sender": {"user_id": message.sender_id, "display_name": name, "role": role},
        "text": message.text,
        "sent_at": message.created_at.isoformat(),
    }


@database_sync_to_async
def draft_note_shown(access: RoomAccess, viewer: User, draft_note: dict, address: str) -> None:
    """The AI scribe's draft reached the doctor's sidebar over the socket: a read of it, as its
    API's GET is."""
    record_access(
        viewer=viewer,
        what=AccessLogEntry.What.DRAFT_NOTE,
        action=AccessLogEntry.Action.VIEW,
        channel=AccessLogEntry.Channel.VISIT_ROOM,
        appointment=Appointment.objects.select_related("patient").get(pk=access.appointment_id),
        record=f"draft note {draft_note.get('id')}",
        address=address,
    )


def _names(appointment: Appointment) -> dict[int, tuple[str, str]]:
    return {
        appointment.doctor.user_id: (appointment.doctor.display_name, Role.DOCTOR.value),
        appointment.patient.user_id: (appointment.patient.full_name, Role.PATIENT.value),
    }


@database_sync_to_async
def _store_chat(access: RoomAccess, text: str) -> dict:
    appointment = Appointment.objects.select_related("doctor", "patient__user").get(
        pk=access.appointment_id
    )
    message = ChatMessage.objects.create(
        appointment=appointment, sender_id=access.user_id, text=text
    )
    return _chat_frame(message, _names(appointment))


async def post_chat(access: RoomAccess, participant_id: str, text: str) -> dict:
    """Store a chat message and broadcast it; the stored message's frame, for the sender.

    A message that could not be stored (Redis or the database failing) raises ProtocolError
    `not_sent`, so the sender can send it again: it is never silently dropped. Once stored, it
    is part of the visit record; its broadcast is retried through an outage (_group_send)."""
    try:
        await _require_admitted(access, participant_id)
        frame = await _store_chat(access, text)
    except (ProtocolError, RoomClosed):
        raise
    except Exception as error:
        logger.warning("chat message not stored: %r", error)
        raise ProtocolError("not_sent", "Your message was not sent; try again.") from error
    version = await _announced_change(access)
    await _group_send(access.group, {"type": "room.chat", "frame": frame, "version": version})
    return frame


@database_sync_to_async
def chat_history(access: RoomAccess) -> list[dict]:
    recent = list(
        ChatMessage.objects.filter(appointment_id=access.appointment_id)
        .select_related("sender")
        .order_by("-created_at", "-pk")[:CHAT_HISTORY]
    )
    if not recent:
        return []  # most joins: the names are read only for a chat to show
    appointment = Appointment.objects.select_related("doctor", "patient__user").get(
        pk=access.appointment_id
    )
    names = _names(appointment)
    return [_chat_frame(message, names) for message in reversed(recent)]


def _public(participant: Participant) -> dict:
    return {
        "participant_id": participant.participant_id,
        "user_id": participant.user_id,
        "display_name": participant.display_name,
        "role": participant.role,
        "status": participant.status,
        "audio": participant.audio,
        "video": participant.video,
        "screen": participant.screen,
        "session_id": participant.session_id,
        "tracks": participant.tracks,
    }


# Who is in the room, by participant id, as one connection last read it.
RoomMembers = dict[str, Participant]


@dataclass(frozen=True)
class RoomView:
    """One participant's view of the room: the `room.state` frame, and the members behind it,
    which that participant's connection relays `signal` and `mls` frames with until the next
    room.changed (members' channel names never leave the server)."""

    state: dict
    members: RoomMembers
    # The room's version when it was read (room_version): a later one means news.
    version: int


def _live_get(appointment_id: int, admitted_user_ids: set[int]) -> dict:
    """The parts of room.state kept in the database, read in one thread hop."""
    return {
        # Everyone sees it, waiting patients too: a visit being recorded is no secret to anyone
        # about to enter it (and entering pauses it until they allow).
        "recording": recording_live_get(
            appointment_id=appointment_id, admitted_user_ids=admitted_user_ids
        ),
        "transcription": transcription_live_get(
            appointment_id=appointment_id, admitted_user_ids=admitted_user_ids
        ),
        "e2ee": visit_encryption_get(appointment_id=appointment_id),
    }


_live = database_sync_to_async(_live_get)

# The database parts of a room being read in this process, by (room, version, who is admitted):
# every connection of the room here gets the same room.changed at once, and the first read
# serves them all. Only reads in flight are shared, so none is older than its asker's event.
_live_reads: dict[tuple[str, int, frozenset[int]], asyncio.Future] = {}


async def _live_shared(access: RoomAccess, version: int | None, admitted: set[int]) -> dict:
    if version is None:
        return await _live(access.appointment_id, admitted)
    key = (access.room, version, frozenset(admitted))
    read = _live_reads.get(key)
    if read is None:
        read = _live_reads[key] = asyncio.ensure_future(_live(access.appointment_id, admitted))
        read.add_done_callback(lambda _done: _live_reads.pop(key, None))
    # Shielded: one asker cancelled (its socket closing) cancels nobody else's read.
    return await asyncio.shield(read)


async def view_for(access: RoomAccess, participant_id: str) -> RoomView:
    """The room as one participant may see it. A waiting patient learns only the doctor's name."""
    version, participants = await get_room_state_store().participants_versioned(access.room)
    participants.sort(key=lambda p: p.joined_at)
    me = next((p for p in participants if p.participant_id == participant_id), None)
    if me is None:
        raise RoomClosed(CloseCode.TIMED_OUT, "You are no longer in the room; reconnect.")
    if me.status == WAITING:
        visible = [
            {"display_name": p.display_name, "role": p.role}
            for p in participants
            if p.role == Role.DOCTOR
        ]
    elif me.role == Role.DOCTOR:
        visible = [_public(p) for p in participants]
    else:
        # Admitted patients see who is in the call, not who else may be waiting.
        visible = [_public(p) for p in participants if p.status == ADMITTED]
    state = {
        "type": ServerFrame.STATE.value,
        "you": {"participant_id": me.participant_id, "role": me.role, "status": me.status},
        "participants": visible,
        **await _live_shared(access, version, _admitted_ids(participants)),
        "ai": False,
    }
    return RoomView(
        state=state, members={p.participant_id: p for p in participants}, version=version
    )


# --- Captures: recording and transcription (the consent frames; the rule is rooms.consent) ---

# Every capture of the visit under the consent rule; each is told of every coming and going.
CAPTURES = (RECORDING_RULES, TRANSCRIPTION_RULES)
DECISIONS = {
    ConsentDecision.ALLOW: CaptureConsent.Decision.ALLOWED,
    ConsentDecision.DECLINE: CaptureConsent.Decision.DECLINED,
    ConsentDecision.WITHDRAW: CaptureConsent.Decision.WITHDRAWN,
}


def _admitted_ids(participants: list[Participant]) -> set[int]:
    return {p.user_id for p in participants if p.status == ADMITTED}


async def _admitted_now(access: RoomAccess) -> set[int]:
    return _admitted_ids(await get_room_state_store().participants(access.room))


@database_sync_to_async
def _captures_admitted(appointment_id: int, user_id: int) -> None:
    """Someone entered the call: every capture that is on pauses until they allow it."""
    for rules in CAPTURES:
        rules.participant_admitted(appointment_id=appointment_id, user_id=user_id)


@database_sync_to_async
def _captures_left_sync(appointment_id: int, user_id: int, admitted: set[int]) -> bool:
    changed = False
    for rules in CAPTURES:
        left = rules.participant_left(
            appointment_id=appointment_id, user_id=user_id, admitted_user_ids=admitted
        )
        changed = changed or left is not None
    return changed


async def _captures_left(
    access: RoomAccess, user_id: int, participants: list[Participant] | None = None
) -> None:
    """`user_id` has left the call for good; the others are told if that changed a capture."""
    if participants is None:
        participants = await get_room_state_store().participants(access.room)
    if await _captures_left_sync(access.appointment_id, user_id, _admitted_ids(participants)):
        await broadcast_changed(access)


@database_sync_to_async
def _visit_ended(access: RoomAccess) -> None:
    ended_by = User.objects.get(pk=access.user_id)
    for rules in CAPTURES:
        rules.visit_ended(appointment_id=access.appointment_id, ended_by=ended_by)


@database_sync_to_async
def _settle_sync(rules: CaptureRules, appointment_id: int, admitted: set[int]) -> None:
    rules.settle(appointment_id=appointment_id, admitted_user_ids=admitted)


async def _capture_changed(access: RoomAccess, rules: CaptureRules) -> None:
    """After a consent frame: settle the capture against who is admitted by now (someone may
    have been let in while we acted, on this process or another), then tell everyone."""
    await _settle_sync(rules, access.appointment_id, await _admitted_now(access))
    await broadcast_changed(access)


@database_sync_to_async
def _request_sync(rules: CaptureRules, access: RoomAccess, admitted: set[int]) -> None:
    rules.request(
        user=User.objects.get(pk=access.user_id),
        appointment_id=access.appointment_id,
        admitted_user_ids=admitted,
    )


@database_sync_to_async
def _decide_sync(
    rules: CaptureRules,
    access: RoomAccess,
    capture_id,
    decision: ConsentDecision,
    admitted: set[int],
) -> None:
    rules.decide(
        user=User.objects.get(pk=access.user_id),
        capture_id=capture_id,
        decision=DECISIONS[decision],
        admitted_user_ids=admitted,
        appointment_id=access.appointment_id,
    )


@database_sync_to_async
def _stop_sync(rules: CaptureRules, access: RoomAccess, capture_id) -> None:
    rules.stop_by(
        user=User.objects.get(pk=access.user_id),
        capture_id=capture_id,
        appointment_id=access.appointment_id,
    )


async def request_capture(access: RoomAccess, participant_id: str, rules: CaptureRules) -> None:
    """The doctor presses Record or Transcribe (docs/protocol.md, "Recording")."""
    await _require_admitted(access, participant_id)
    await _request_sync(rules, access, await _admitted_now(access))
    await _capture_changed(access, rules)


async def decide_capture(
    access: RoomAccess,
    participant_id: str,
    rules: CaptureRules,
    capture_id,
    decision: ConsentDecision,
) -> None:
    """Allow, decline or withdraw consent to the visit's recording or transcription."""
    await _require_admitted(access, participant_id)
    await _decide_sync(rules, access, capture_id, decision, await _admitted_now(access))
    await _capture_changed(access, rules)


async def stop_capture(
    access: RoomAccess, participant_id: str, rules: CaptureRules, capture_id
) -> None:
    """Anyone in the call stops the recording or the transcription."""
    await _require_admitted(access, participant_id)
    await _stop_sync(rules, access, capture_id)
    await broadcast_changed(access)
