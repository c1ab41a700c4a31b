"""`masq simulate call`: the carrier in a box, from the command line."""

from __future__ import annotations

import click
import requests

from app.cli import served_url
from app.cli.simulator import CallPlan, Carrier, CarrierError
from app.cli.support import dev_twilio_token
from routing import settings


@click.group("simulate")
def simulate() -> None:
    """Play the carrier (Twilio) against a running masq."""


@simulate.command("call")
@click.option("--from", "caller", required=True, help="The caller's number, E.164.")
@click.option("--to", "virtual_number", required=True, help="The virtual number called, E.164.")
@click.option("--digits", multiple=True, help="Digits keyed at each prompt, in order (repeat for retries).")
@click.option("--answer", "outcome", flag_value="answer", default=True, help="The callee answers (default).")
@click.option("--busy", "outcome", flag_value="busy", help="The callee is busy.")
@click.option("--no-answer", "outcome", flag_value="no-answer", help="The callee does not answer.")
@click.option(
    "--talk",
    "talk_seconds",
    type=click.IntRange(0, 86400),
    default=42,
    show_default=True,
    help="Seconds the bridged call lasts.",
)
@click.option("--replay", is_flag=True, help="Send every callback twice, as a carrier retry would.")
@click.option("--url", default=None, help="masq's URL [default: where `masq serve` runs, else MASQ_PUBLIC_URL].")
@click.option(
    "--auth-token",
    default=None,
    help="The token to sign with [default: TWILIO_AUTH_TOKEN, else the one `masq serve` made].",
)
def call(
    caller: str,
    virtual_number: str,
    digits: tuple[str, ...],
    outcome: str,
    talk_seconds: int,
    replay: bool,
    url: str | None,
    auth_token: str | None,
) -> None:
    """Call a virtual number and follow masq's TwiML to the end, printing each step."""
    config = settings.from_environment()
    base_url = served_url.base_url(url, config)
    carrier = Carrier(
        base_url,
        auth_token if auth_token is not None else dev_twilio_token(config, create=False),
        echo=click.echo,
    )
    plan = CallPlan(caller, virtual_number, digits, outcome, talk_seconds, replay)
    try:
        result = carrier.call(plan)
    except requests.ConnectionError as exc:
        raise served_url.not_answering(base_url) from exc
    except (CarrierError, requests.RequestException) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"ending: {result.ending}")
