"""The floors: bare Flask apps that answer every POST with constant TwiML, under the same gunicorn as masq.

`create_app` is the floor the targets are set against. `create_redis_app` also makes the Redis round trips masq
makes (two for the inbound webhook, one for a session create), with redis-py as masq uses it: the floor of
Flask and Redis together, which shows what the round trips alone cost on the same machine.
"""

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


def create_redis_app() -> Flask:
    """Return the bare app making Redis round trips before answering: `FLOOR_ROUND_TRIPS` of them (2: a GET and
    a one-command script, as masq's inbound webhook; 1: the script only, as masq's session create)."""
    import os

    import redis

    app = Flask(__name__)
    client = redis.Redis.from_url(os.environ["REDIS_URL"], decode_responses=True)
    script = client.register_script("redis.call('INCR', KEYS[1]) return ARGV[1]")
    read_first = os.environ.get("FLOOR_ROUND_TRIPS", "2") == "2"

    @app.post("/", defaults={"path": ""})
    @app.post("/<path:path>")
    def constant(path: str) -> Response:
        if read_first:
            client.get("bench:floor:owner")
        script(keys=["bench:floor:count"], args=["x"])
        return Response(TWIML, status=200, mimetype="text/xml")

    return app
