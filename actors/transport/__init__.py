"""The hot-path channel between actors: books, opportunities, order legs and fills, beside Ray.

A Ray actor call costs 3-4 ms on a 2-core VM (p50); a request over a persistent socket
between the same two processes costs ~0.2 ms each way. Ray stays the control plane: it places, names and restarts the
actors, and a caller asks a peer through Ray where its channel listens (``channel_address``). The messages then travel
over one connection per caller and peer, and carry data only:

- ``wire``: length-prefixed frames whose payloads decode into each method's declared types (``methods.HOT_PATH``) and
  nothing else; exceptions travel as data;
- ``handshake``: mutual HMAC challenge-response over fresh nonces, so the run's token never travels;
- ``tls``: TLS with the run's own certificate wherever a channel listens beyond loopback;
- ``connection``: the protocol both ends share: frames cut out as the bytes arrive, written at once (under TLS too);
- ``server`` (``ChannelServer``, the actor mixin ``ServesChannel``), ``client`` (``ChannelClient``) and ``routing``
  (``Channels``: one connection per peer by name, Ray when a channel cannot be reached);
- ``settings``: ``ChannelSettings`` and ``new_channel_settings``, which the driver calls once per run.

A caller sees a channel call exactly like a Ray call: the handler's return value, or the exception it raised.
``ChannelUnavailable`` means nothing was sent (``Channels`` then makes the same call through Ray); ``ChannelLost`` means
the request may have reached the peer: for an order, an unknown outcome resolved by client order id.
"""
from actors.transport.client import MAX_PENDING_CALLS, ChannelClient, ChannelLost, ChannelUnavailable
from actors.transport.methods import HOT_PATH
from actors.transport.routing import Channels, RenewsChannels
from actors.transport.server import ChannelServer, ServesChannel
from actors.transport.settings import ChannelSettings, listen_host, new_channel_settings
from actors.transport.wire import Interface, Method, RemoteError

__all__ = [
    "HOT_PATH", "MAX_PENDING_CALLS", "ChannelClient", "ChannelLost", "ChannelServer", "ChannelSettings",
    "ChannelUnavailable", "Channels", "Interface", "Method", "RemoteError", "RenewsChannels", "ServesChannel",
    "listen_host", "new_channel_settings",
]
