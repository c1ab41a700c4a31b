"""A carrier in a box: plays Twilio Programmable Voice against a running masq, following its TwiML.

Every request is signed as Twilio signs it. A `<Dial>` produces the dialled leg's status callbacks,
the whisper request, the recording callbacks and the dial action, in the order Twilio sends them.
"""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urljoin

import requests
from twilio.request_validator import RequestValidator

OUTCOMES = ("answer", "busy", "no-answer")
_EVENT_OF = {"initiated": "initiated", "ringing": "ringing", "in-progress": "answered"}
_WHISPER_VERBS = {"Play", "Say", "Gather", "Hangup"}


class CarrierError(Exception):
    """masq answered something the carrier would not accept (an error status, or TwiML it cannot run)."""


@dataclass(frozen=True)
class CallPlan:
    """What the simulated people do: who calls which number, the digits they key, how the callee reacts."""

    caller: str
    virtual_number: str
    digits: tuple[str, ...] = ()
    outcome: str = "answer"
    talk_seconds: int = 42
    replay_callbacks: bool = False


@dataclass
class CallResult:
    """What happened: how the call ended, what the caller heard, who was dialled, the dial's status."""

    call_sid: str
    ending: str = ""
    heard: list[str] = field(default_factory=list)
    dialled: str = ""
    whisper: list[str] = field(default_factory=list)
    dial_status: str = ""
    lines: list[str] = field(default_factory=list)


def sid(prefix: str) -> str:
    """Return a fresh Twilio-style id."""
    return prefix + uuid.uuid4().hex


class Carrier:
    """Twilio, as far as masq can tell, at `base_url` with `auth_token`."""

    def __init__(
        self,
        base_url: str,
        auth_token: str,
        http: requests.Session | None = None,
        echo: Callable[[str], None] | None = None,
        max_documents: int = 20,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.validator = RequestValidator(auth_token)
        self.http = http or requests.Session()
        self.echo = echo or (lambda line: None)
        self.max_documents = max_documents
        self.account_sid = "AC" + "0" * 32

    def call(self, plan: CallPlan) -> CallResult:
        """Place one call as described by `plan` and follow it to its end."""
        if plan.outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}")
        result = CallResult(sid("CA"))
        base = {
            "AccountSid": self.account_sid,
            "ApiVersion": "2010-04-01",
            "CallSid": result.call_sid,
            "From": plan.caller,
            "Caller": plan.caller,
            "To": plan.virtual_number,
            "Called": plan.virtual_number,
            "Direction": "inbound",
        }
        self._say(result, f"call {result.call_sid}: {plan.caller} → {plan.virtual_number}")
        digits = list(plan.digits)
        url, params = self.base_url + "/voice/inbound", {**base, "CallStatus": "ringing"}
        for _ in range(self.max_documents):
            document = self._twiml(url, params)
            step = self._run(document, url, plan, base, digits, result)
            if step is None:
                return result
            url, params = step
        raise CarrierError(f"more than {self.max_documents} TwiML documents for one call")

    def _run(
        self,
        document: ET.Element,
        url: str,
        plan: CallPlan,
        base: dict[str, str],
        digits: list[str],
        result: CallResult,
    ) -> tuple[str, dict[str, str]] | None:
        """Run one TwiML document; return the next request to make, or None when the call is over."""
        status = {**base, "CallStatus": "in-progress"}
        for verb in document:
            if verb.tag == "Reject":
                result.ending = "rejected:" + verb.get("reason", "rejected")
                self._say(result, f"masq rejects the call ({verb.get('reason', 'rejected')})")
                return None
            if verb.tag == "Hangup":
                break
            if verb.tag in ("Play", "Say"):
                self._hear(result, verb)
            elif verb.tag == "Gather":
                for prompt in verb:
                    self._hear(result, prompt)
                entered = digits.pop(0) if digits else ""
                if entered or verb.get("actionOnEmptyResult") == "true":
                    self._say(result, f"caller keys {entered or 'nothing'}")
                    return urljoin(url, verb.get("action", url)), {**status, "Digits": entered}
            elif verb.tag == "Redirect":
                return urljoin(url, (verb.text or url).strip()), status
            elif verb.tag == "Dial":
                params = self._dial(verb, url, plan, base, result)
                if verb.get("action"):
                    return urljoin(url, verb.get("action", "")), {**status, **params}
            else:
                raise CarrierError(f"the simulator cannot run <{verb.tag}>")
        result.ending = result.ending or "hung up"
        self._say(result, "the call ends")
        return None

    def _dial(
        self, dial: ET.Element, url: str, plan: CallPlan, base: dict[str, str], result: CallResult
    ) -> dict[str, str]:
        """Dial the `<Number>` and report its leg as Twilio does; return the dial action's fields."""
        number = dial.find("Number")
        if number is None or not (number.text or "").strip():
            raise CarrierError("<Dial> without a <Number>")
        result.dialled = (number.text or "").strip()
        leg = sid("CA")
        self._say(
            result,
            f"masq dials {result.dialled} showing {dial.get('callerId')} "
            f"(ring {dial.get('timeout')}s, limit {dial.get('timeLimit')}s)",
        )
        leg_fields = {
            "AccountSid": self.account_sid,
            "CallSid": leg,
            "ParentCallSid": base["CallSid"],
            "From": dial.get("callerId", ""),
            "To": result.dialled,
            "Direction": "outbound-dial",
        }
        wanted = (number.get("statusCallbackEvent") or "completed").split()
        answered = plan.outcome == "answer"
        statuses = ["initiated"] + (["busy"] if plan.outcome == "busy" else ["ringing"])
        statuses += ["in-progress", "completed"] if answered else ([] if plan.outcome == "busy" else ["no-answer"])
        talk = plan.talk_seconds if answered else 0
        recording = sid("RE")
        for seq, status in enumerate(statuses):
            if status == "in-progress" and number.get("url"):
                self._whisper(urljoin(url, number.get("url", "")), {**leg_fields, "CallStatus": "in-progress"}, result)
            self._say(result, f"dialled leg {status}")
            if number.get("statusCallback") and _EVENT_OF.get(status, "completed") in wanted:
                extra = {"CallDuration": str(talk)} if status in ("completed", "busy", "no-answer") else {}
                self._callback(
                    urljoin(url, number.get("statusCallback", "")),
                    {**leg_fields, "CallStatus": status, "SequenceNumber": str(seq), **extra},
                    plan,
                )
            if dial.get("record") and status in ("in-progress", "completed"):
                self._recording(dial, url, base, plan, result, recording, status, talk)
        result.dial_status = "completed" if answered else plan.outcome
        result.ending = "bridged" if answered else plan.outcome
        return {
            "DialCallStatus": result.dial_status,
            "DialCallSid": leg,
            "DialCallDuration": str(talk),
            "DialBridged": "true" if answered else "false",
        }

    def _recording(
        self,
        dial: ET.Element,
        url: str,
        base: dict[str, str],
        plan: CallPlan,
        result: CallResult,
        recording: str,
        status: str,
        talk: int,
    ) -> None:
        callback = dial.get("recordingStatusCallback")
        if not callback or status not in (dial.get("recordingStatusCallbackEvent") or "completed").split():
            return
        fields = {
            "AccountSid": self.account_sid,
            "CallSid": base["CallSid"],
            "RecordingSid": recording,
            "RecordingUrl": f"https://api.twilio.com/2010-04-01/Accounts/{self.account_sid}/Recordings/{recording}",
            "RecordingChannels": "2",
            "RecordingSource": "DialVerb",
            "RecordingStatus": status,
        }
        if status == "completed":
            fields["RecordingDuration"] = str(talk)
        self._say(result, f"recording {status}")
        self._callback(urljoin(url, callback), fields, plan)

    def _whisper(self, url: str, params: dict[str, str], result: CallResult) -> None:
        for verb in self._twiml(url, params):
            if verb.tag not in _WHISPER_VERBS:
                raise CarrierError(f"<{verb.tag}> is not allowed in a <Number url> whisper")
            if verb.tag in ("Play", "Say"):
                result.whisper.append((verb.text or "").strip())
                self._say(result, f"callee hears {(verb.text or '').strip()}")

    def _callback(self, url: str, params: dict[str, str], plan: CallPlan) -> None:
        token = str(uuid.uuid4())
        for _ in range(2 if plan.replay_callbacks else 1):
            response = self._post(url, params, {"I-Twilio-Idempotency-Token": token})
            if response.status_code not in (200, 204):
                raise CarrierError(f"callback {url} answered {response.status_code}")

    def _twiml(self, url: str, params: dict[str, str]) -> ET.Element:
        response = self._post(url, params)
        if response.status_code != 200 or "xml" not in response.headers.get("Content-Type", ""):
            raise CarrierError(f"{url} answered {response.status_code}, not TwiML")
        document = ET.fromstring(response.content)
        if document.tag != "Response":
            raise CarrierError(f"{url} answered XML that is not TwiML")
        return document

    def _post(self, url: str, params: dict[str, str], headers: dict[str, str] | None = None) -> requests.Response:
        url = url.split("#", 1)[0]
        signature = self.validator.compute_signature(url, params)
        return self.http.post(
            url, data=params, headers={"X-Twilio-Signature": signature, **(headers or {})}, timeout=15
        )

    def _hear(self, result: CallResult, verb: ET.Element) -> None:
        what = (verb.text or "").strip()
        result.heard.append(what)
        self._say(result, f"caller hears {what}")

    def _say(self, result: CallResult, line: str) -> None:
        result.lines.append(line)
        self.echo(line)
