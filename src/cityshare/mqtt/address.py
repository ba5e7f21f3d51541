"""Where the MQTT broker is and how the ingest worker signs in: ``CITYSHARE_MQTT_URL``.

The URL is ``mqtt://USER:PASSWORD@HOST:PORT`` (plain TCP, port 1883 by default) or
``mqtts://USER:PASSWORD@HOST:PORT`` (TLS with the system's certificate authorities,
port 8883 by default). User and password may be percent-encoded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from cityshare.errors import CityshareError

DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}
# Names that are safe in Mosquitto's password and ACL files and in a topic level:
# no ':', '/', '+', '#', spaces or line breaks.
SAFE_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")


class BadMqttUrl(CityshareError):
    """``CITYSHARE_MQTT_URL`` cannot be used."""

    title = "Bad MQTT URL"
    slug = "bad-mqtt-url"


@dataclass(frozen=True)
class BrokerAddress:
    """A broker and the account the ingest worker uses on it."""

    host: str
    port: int
    username: str
    password: str = field(repr=False)
    tls: bool = False


def parse_mqtt_url(url: str) -> BrokerAddress:
    """Read ``mqtt[s]://USER:PASSWORD@HOST[:PORT]``; raise :class:`BadMqttUrl` if unusable.

    >>> parse_mqtt_url("mqtt://cityshare-ingest:s3cret@127.0.0.1:1884").port
    1884
    """
    parts = urlsplit(url.strip())
    if parts.scheme not in DEFAULT_PORTS:
        raise BadMqttUrl("CITYSHARE_MQTT_URL must start with mqtt:// or mqtts://.")
    try:
        port = parts.port or DEFAULT_PORTS[parts.scheme]
    except ValueError:
        raise BadMqttUrl("CITYSHARE_MQTT_URL has a port that is not a number.") from None
    username = unquote(parts.username or "")
    password = unquote(parts.password or "")
    if not parts.hostname or not username or not password:
        raise BadMqttUrl(
            "CITYSHARE_MQTT_URL must name the host and the ingest worker's user and password, "
            "as in mqtt://cityshare-ingest:PASSWORD@127.0.0.1:1883."
        )
    check_account_name(username)
    return BrokerAddress(
        host=parts.hostname,
        port=port,
        username=username,
        password=password,
        tls=parts.scheme == "mqtts",
    )


def check_account_name(name: str) -> str:
    """``name`` if it is safe as a Mosquitto user name and topic level, else BadMqttUrl."""
    if not SAFE_NAME.fullmatch(name):
        raise BadMqttUrl(
            f"The MQTT user name {name[:70]!r} may only use letters, digits, '.', '_' and '-' "
            "(at most 64 characters)."
        )
    return name
