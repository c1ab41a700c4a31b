"""The floor: a bare Flask app that answers every POST with constant TwiML, under the same gunicorn as masq."""

from __future__ import annotations

from flask import Flask, Response

# About the size and shape of the `<Dial>` masq returns for a bridged call.
TWIML = (
    '<?xml version="1.0" encoding="UTF-8"?><Response><Dial action="http://127.0.0.1/voice/dial-complete?t=MA&amp;c=CA"'
    ' answerOnBridge="true" callerId="+14152000000" method="POST" timeLimit="14400" timeout="120">'
    '<Number statusCallback="http://127.0.0.1/voice/leg-status?t=MA&amp;c=CA#rc=3&amp;rp=all"'
    ' statusCallbackEvent="initiated ringing answered completed" statusCallbackMethod="POST">+14155554321'
    "</Number></Dial></Response>"
)


def create_app() -> Flask:
    """Return the bare app: one view, no extensions, no Redis."""
    app = Flask(__name__)

    @app.post("/", defaults={"path": ""})
    @app.post("/<path:path>")
    def constant(path: str) -> Response:
        return Response(TWIML, status=200, mimetype="text/xml")

    return app
